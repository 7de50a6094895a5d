"""Teams, which are also routing queues. Everyone may list them; admins change them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlmodel import col

from agents_ui.api.schemas import MemberIn, TeamIn
from agents_ui.deps import Caller, current_caller, forget_caller, get_hub, require_admin
from hub.agents import actions
from hub.agents.models import Team
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/teams", tags=["teams"])


def team_dict(team: Team, members: list[int]) -> dict[str, Any]:
    return {"id": team.id, "name": team.name, "settings": team.settings, "member_ids": members}


@router.get("", summary="List teams")
def list_teams(_: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.read() as s:
        teams = s.execute(select(Team).order_by(col(Team.id))).scalars().all()
        members: dict[int, list[int]] = {}
        for team_id, agent_id in actions.memberships(s):
            members.setdefault(team_id, []).append(agent_id)
        return {"items": [team_dict(t, members.get(t.id, [])) for t in teams]}


@router.post("", status_code=201, summary="Create a team (admins)")
def create_team(body: TeamIn, _: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        return team_dict(actions.do_create_team(s, body.name), [])


@router.post("/{team_id}/members", summary="Add an agent to a team (admins)")
def add_member(team_id: int, body: MemberIn, _: Caller = Depends(require_admin),
               hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        team = actions.get_team(s, team_id)
        actions.do_add_member(s, team, actions.get_agent(s, body.agent_id))
        s.flush()
        out = team_dict(team, actions.team_members(s, team_id))
    forget_caller(hub, agent_id=body.agent_id)  # their scope changed
    return out


@router.delete("/{team_id}/members/{agent_id}", summary="Remove an agent from a team (admins)")
def remove_member(team_id: int, agent_id: int, _: Caller = Depends(require_admin),
                  hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        team = actions.get_team(s, team_id)
        actions.do_remove_member(s, team, actions.get_agent(s, agent_id))
        s.flush()
        out = team_dict(team, actions.team_members(s, team_id))
    forget_caller(hub, agent_id=agent_id)  # their scope changed
    return out
