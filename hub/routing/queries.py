"""Reads the router needs: agent states with their loads, and the waiting queue."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlmodel import Session, col

from hub.agents.models import Agent, TeamMember
from hub.conversations.models import Conversation
from hub.routing.policy import AgentState, Work


def loads(session: Session, agent_ids: list[int]) -> dict[int, dict[str, int]]:
    """Open conversations assigned to, or offered to, each agent, per channel."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    if not agent_ids:
        return out
    assigned = session.execute(
        select(col(Conversation.assignee_id), col(Conversation.channel), func.count())
        .where(col(Conversation.status) == "open", col(Conversation.assignee_id).in_(agent_ids))
        .group_by(col(Conversation.assignee_id), col(Conversation.channel))
    ).all()
    offered = session.execute(
        select(col(Conversation.offered_to_id), col(Conversation.channel), func.count())
        .where(col(Conversation.offered_to_id).in_(agent_ids), col(Conversation.assignee_id).is_(None))
        .group_by(col(Conversation.offered_to_id), col(Conversation.channel))
    ).all()
    for agent_id, channel, n in [*assigned, *offered]:
        out[agent_id][channel] = out[agent_id].get(channel, 0) + int(n)
    return out


def agent_states(
    session: Session, default_capacity: dict[str, int], *, team_id: int | None = None, online_only: bool = True,
    agent_ids: list[int] | None = None,
) -> list[AgentState]:
    # Plain rows, not ORM entities: this runs for every routed conversation and every drain pass,
    # over every online agent, and entity loading was most of its cost.
    stmt = select(
        col(Agent.id), col(Agent.presence), col(Agent.skills), col(Agent.capacities), col(Agent.last_assigned_at)
    ).where(col(Agent.active).is_(True))
    if online_only:
        stmt = stmt.where(col(Agent.presence) == "online")
    if team_id is not None:
        stmt = stmt.where(col(Agent.id).in_(select(col(TeamMember.agent_id)).where(col(TeamMember.team_id) == team_id)))
    if agent_ids is not None:
        stmt = stmt.where(col(Agent.id).in_(agent_ids))
    rows = session.execute(stmt).all()
    ids = [r.id for r in rows]
    teams: dict[int, set[int]] = defaultdict(set)
    if ids:
        for tid, aid in session.execute(
            select(col(TeamMember.team_id), col(TeamMember.agent_id)).where(col(TeamMember.agent_id).in_(ids))
        ).all():
            teams[aid].add(tid)
    current = loads(session, ids)
    return [
        AgentState(
            id=r.id,
            presence=r.presence,
            team_ids=frozenset(teams[r.id]),
            skills=frozenset(r.skills or []),
            capacity={**default_capacity, **(r.capacities or {})},
            load=current.get(r.id, {}),
            last_assigned_at=r.last_assigned_at,
        )
        for r in rows
    ]


def waiting_filter() -> ColumnElement[bool]:
    return (
        (col(Conversation.status) == "open")
        & col(Conversation.assignee_id).is_(None)
        & col(Conversation.offered_to_id).is_(None)
    )


def waiting(session: Session, *, team_ids: list[int | None] | None = None, limit: int = 200) -> list[Conversation]:
    """The head of the queue(s), in queue order."""
    stmt = select(Conversation).where(waiting_filter())
    if team_ids is not None:
        real = [t for t in team_ids if t is not None]
        clauses = []
        if real:
            clauses.append(col(Conversation.team_id).in_(real))
        if None in team_ids:
            clauses.append(col(Conversation.team_id).is_(None))
        if not clauses:
            return []
        stmt = stmt.where(or_(*clauses))
    stmt = stmt.order_by(
        col(Conversation.priority).desc(),
        col(Conversation.waiting_since),
        col(Conversation.id),
    ).limit(limit)
    return list(session.execute(stmt).scalars().all())


def work_of(conv: Conversation, sticky_until: datetime | None, excluded: frozenset[int] = frozenset()) -> Work:
    assert conv.id is not None
    return Work(
        conversation_id=conv.id,
        channel=conv.channel,
        team_id=conv.team_id,
        priority=conv.priority,
        waiting_since=conv.waiting_since or conv.created_at,
        last_agent_id=conv.last_agent_id,
        skill=conv.routing_skill,
        sticky_until=sticky_until,
        excluded=excluded,
    )
