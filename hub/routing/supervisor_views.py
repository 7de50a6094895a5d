"""What supervisors see: each queue and each agent, computed from the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from hub.agents.models import Agent, Team, TeamMember
from hub.clock import utcnow
from hub.conversations.models import Conversation
from hub.routing import queries


def queue_overview(session: Session) -> list[dict[str, Any]]:
    now = utcnow()
    rows = session.execute(
        select(
            col(Conversation.team_id),
            func.count(),
            func.min(col(Conversation.waiting_since)),
            func.sum(case((col(Conversation.sla_state) != "ok", 1), else_=0)),
        )
        .where(queries.waiting_filter())
        .group_by(col(Conversation.team_id))
    ).all()
    stats = {team_id: (int(n), oldest, int(at_risk or 0)) for team_id, n, oldest, at_risk in rows}
    teams = session.execute(select(Team).order_by(col(Team.id))).scalars().all()
    online = dict(
        session.execute(
            select(col(TeamMember.team_id), func.count())
            .join(Agent, col(Agent.id) == col(TeamMember.agent_id))
            .where(col(Agent.presence) == "online")
            .group_by(col(TeamMember.team_id))
        ).all()
    )
    out = []
    for team_id, name in [(None, "Shared inbox"), *((t.id, t.name) for t in teams)]:
        n, oldest, at_risk = stats.get(team_id, (0, None, 0))
        if isinstance(oldest, str):  # SQLite hands aggregates back untyped
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        out.append({
            "team_id": team_id,
            "name": name,
            "waiting": n,
            "longest_wait_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0,
            "sla_at_risk": at_risk,
            "agents_online": int(online.get(team_id, 0)) if team_id is not None else None,
        })
    return out


def agent_overview(session: Session, default_capacity: dict[str, int]) -> list[dict[str, Any]]:
    now = utcnow()
    states = {a.id: a for a in queries.agent_states(session, default_capacity, online_only=False)}
    agents = session.execute(select(Agent).where(col(Agent.active).is_(True)).order_by(col(Agent.id))).scalars().all()
    out = []
    for a in agents:
        st = states.get(a.id)
        idle_from = a.last_assigned_at or a.presence_changed_at
        out.append({
            "id": a.id,
            "name": a.name,
            "email": a.email,
            "role": a.role,
            "presence": a.presence,
            "team_ids": sorted(st.team_ids) if st else [],
            "load": st.load if st else {},
            "capacity": st.capacity if st else default_capacity,
            "idle_seconds": round((now - idle_from).total_seconds(), 1) if a.presence == "online" else None,
            "console_connected": a.console_connected,
        })
    return out
