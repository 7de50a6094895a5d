"""Agents (admins manage them), the caller's own profile, and presence."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlmodel import col

from agents_ui.api.schemas import AgentIn, AgentPatch, PresenceIn
from agents_ui.deps import Caller, current_caller, forget_caller, get_hub, require_admin
from agents_ui.presence import presence_throttle
from hub.agents import actions
from hub.agents.models import Agent
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


@router.get("/me", summary="Who am I")
def me(caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.read() as s:
        agent = actions.get_agent(s, caller.agent_id)
        return actions.agent_dict(agent, actions.team_ids_of(s, caller.agent_id))


_THROTTLED: dict[int | str, dict[str, Any]] = {429: {
    "description": "too many presence changes (a few a second per agent, socket included): wait as many "
                   "seconds as Retry-After says",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}}


@router.post("/me/presence", summary="Set my presence: online, away or offline", responses=_THROTTLED)
def set_presence(body: PresenceIn, caller: Caller = Depends(current_caller),
                 hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Each change is an event every console receives: at most a few a second per agent, counted
    with the socket's presence frames (agents_ui/presence.py); beyond, 429 with Retry-After."""
    presence_throttle(hub).spend(caller.agent_id)
    return hub.set_presence(caller.agent_id, body.presence)


@router.get("", summary="List agents")
def list_agents(_: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Every agent (id, name, role, presence, teams...; never a password hash or a token): the
    console's @mention picker and "assign to a colleague" read this. Two statements in all."""
    with hub.db.read() as s:
        agents = s.execute(select(Agent).order_by(col(Agent.id))).scalars().all()
        teams_of: dict[int, list[int]] = {}
        for team_id, agent_id in actions.memberships(s):
            teams_of.setdefault(agent_id, []).append(team_id)
        return {"items": [actions.agent_dict(a, teams_of.get(a.id, [])) for a in agents]}


@router.post("", status_code=201, summary="Create an agent (admins)")
def create_agent(body: AgentIn, _: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    password = actions.new_password(body.password)  # outside the write lock (argon2, ~0.45 s)
    with hub.db.write() as s:
        agent = actions.do_create_agent(
            s, email=body.email, name=body.name, role=body.role, password=password,
            capacities=body.capacities, skills=body.skills,
        )
        return actions.agent_dict(agent, [])


@router.patch("/{agent_id}", summary="Change an agent (admins)")
def update_agent(agent_id: int, body: AgentPatch, caller: Caller = Depends(require_admin),
                 hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    password = actions.new_password(body.password) if body.password is not None else None  # outside the lock
    with hub.db.write() as s:
        agent = actions.get_agent(s, agent_id)
        actions.check_keeps_an_admin(s, agent, role=body.role, active=body.active)
        info = actions.do_update_agent(s, agent, name=body.name, role=body.role, active=body.active,
                                       capacities=body.capacities, skills=body.skills, password=password,
                                       actor_agent_id=caller.agent_id)
    # Role, activity, name or password (which ends every session) may have changed.
    forget_caller(hub, agent_id=agent_id)
    return info
