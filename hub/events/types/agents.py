"""Agents, teams and routing settings: what consoles' directories and routing boards follow."""

from __future__ import annotations

from typing import Any

from hub.events.types.base import TypedEvent, column, event


@event("presence.changed", "agents")
class PresenceChanged(TypedEvent):
    """An agent went online, away or offline (`from`: before)."""

    agent_id: int = column("actor_agent_id", payload=True)
    from_: str
    presence: str


@event("agent.updated", "agents")
class AgentUpdated(TypedEvent):
    """An admin changed an agent (name, role, activity, capacities, skills, password): `agent` is
    the agent as the API answers it."""

    actor_agent_id: int | None = column()
    agent_id: int
    agent: dict[str, Any]


@event("agent.session_ended", "agents")
class SessionEnded(TypedEvent):
    """An agent logged out: their sockets check their own session again."""

    agent_id: int = column("actor_agent_id", payload=True)


@event("team.member_added", "agents")
class MemberAdded(TypedEvent):
    """An agent joined a team."""

    team_id: int
    agent_id: int


@event("team.member_removed", "agents")
class MemberRemoved(TypedEvent):
    """An agent left a team."""

    team_id: int
    agent_id: int


@event("team.updated", "agents")
class TeamUpdated(TypedEvent):
    """A team's queue settings changed (`settings`: as stored)."""

    actor_agent_id: int | None = column()
    team_id: int
    settings: dict[str, Any]


@event("routing.rules_changed", "agents")
class RulesChanged(TypedEvent):
    """A routing rule was `created` (the rule) or `deleted` (its id)."""

    actor_agent_id: int | None = column()
    created: dict[str, Any] | None = None
    deleted: int | None = None
