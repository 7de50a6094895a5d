"""The routing board's statements, built once (hub.routing.board): the events since its snapshot
with their conversations, and the full read of slots, online agents, their teams and the teams."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlmodel import col

from hub.agents.models import Agent, Team, TeamMember
from hub.conversations.models import Conversation
from hub.events.models import Event

# The events since the snapshot, each with its conversation as it is now (one round trip: on
# PostgreSQL this runs holding the write lock). Only agent and team events need their payload (an
# agent or team id); conversations' are big. Written once, read two ways: by `View.refresh`, and as
# one JSON value inside ingest's lookup statement (`BoardPrefetch`), which saves the round trip.
_EVENTS_AFTER_COLUMNS = ("e.id, e.type, e.conversation_id, CASE WHEN e.conversation_id IS NULL THEN e.payload END, "
                         "c.id, c.status, c.assignee_id, c.offered_to_id, c.channel, a.last_assigned_at")
_EVENTS_AFTER_FROM = (
    "FROM (SELECT id, type, conversation_id, payload FROM events WHERE id > {after} ORDER BY id LIMIT {limit}) e "
    "LEFT JOIN conversations c ON c.id = e.conversation_id "
    "LEFT JOIN agents a ON a.id = COALESCE(c.assignee_id, c.offered_to_id)"
)
# Read by `View.refresh` through the session's own cursor (hub.plain_sql: through SQLAlchemy's
# text() it cost the ingest writer more than the rows did), once per routing transaction that
# follows others' events; its parameters: after, limit.
EVENTS_AFTER_ROWS = f"SELECT {_EVENTS_AFTER_COLUMNS} {_EVENTS_AFTER_FROM.format(after='?', limit='?')} ORDER BY e.id"
# PostgreSQL: the same rows as one JSON array (the agent's `last_assigned_at` as ISO text); its
# parameters: after, limit.
EVENTS_AFTER_JSON = (f"SELECT json_agg(json_build_array({_EVENTS_AFTER_COLUMNS}) ORDER BY e.id) "
                      f"{_EVENTS_AFTER_FROM.format(after='?::bigint', limit='?')}")
LAST_EVENT = select(func.max(Event.id))
ASSIGNED = select(col(Conversation.id), col(Conversation.assignee_id), col(Conversation.channel)).where(
    col(Conversation.assignee_id).is_not(None), col(Conversation.status) == "open"
)
OFFERED = select(col(Conversation.id), col(Conversation.offered_to_id), col(Conversation.channel)).where(
    col(Conversation.offered_to_id).is_not(None), col(Conversation.assignee_id).is_(None)
)
_AGENT_COLUMNS = (
    col(Agent.id), col(Agent.presence), col(Agent.skills), col(Agent.capacities), col(Agent.last_assigned_at)
)
ONLINE_AGENTS = select(*_AGENT_COLUMNS).where(
    col(Agent.active).is_(True), col(Agent.presence) == "online"
)
SOME_AGENTS = ONLINE_AGENTS.where(col(Agent.id).in_(bindparam("ids", expanding=True)))
MEMBERS = select(col(TeamMember.team_id), col(TeamMember.agent_id))
SOME_MEMBERS = MEMBERS.where(col(TeamMember.agent_id).in_(bindparam("ids", expanding=True)))
TEAMS = select(col(Team.id), col(Team.name), col(Team.settings))
