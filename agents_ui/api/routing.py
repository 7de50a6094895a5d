"""Routing administration: rules, team queue settings; and answering an offered chat."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import ConfigDict, Field, model_validator

from agents_ui.api.schemas import In
from agents_ui.deps import Caller, current_caller, get_hub, require_admin, require_supervisor
from hub import access
from hub.conversations.actions import get_conversation
from hub.conversations.schemas import conversation_dict
from hub.routing import admin, assignments
from hub.routing.settings import TeamRef, TeamSettings, do_set_team_settings
from hub.runtime import Hub

router = APIRouter(tags=["routing"])


Condition = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=100)]


class RuleMatch(In):
    """Every condition named must hold; a list means "any of"."""

    model_config = ConfigDict(extra="forbid")
    channel: Condition = Field(default_factory=list)
    tier: Condition = Field(default_factory=list)
    language: Condition = Field(default_factory=list)
    source: Condition = Field(default_factory=list)
    keywords: Condition = Field(default_factory=list)


class RuleIn(In):
    # Unknown fields are refused: {"team": "Support"} used to be dropped silently, a rule with no team.
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    position: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    match: RuleMatch = Field(default_factory=RuleMatch)
    team: TeamRef | None = Field(default=None, description="the team, by id or by name")
    team_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="the team by id (or give `team`)")
    priority: int = Field(default=0, ge=-100, le=100)
    skill: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_team(self) -> RuleIn:
        if self.team is not None and self.team_id is not None:
            raise ValueError("give the team once: team (id or name) or team_id")
        return self


@router.get("/api/v1/routing/rules", summary="Routing rules (config rules first, then these)")
def list_rules(_: Caller = Depends(require_supervisor), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.read() as s:
        return {
            "config": [r.__dict__ for r in hub.options.routing.rules],
            "items": [admin.rule_dict(r) for r in admin.list_rules(s)],
        }


@router.post("/api/v1/routing/rules", status_code=201, summary="Add a routing rule (admins)")
def create_rule(body: RuleIn, caller: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        rule = admin.do_create_rule(
            s, name=body.name, position=body.position, match=body.match.model_dump(exclude_defaults=True),
            team=body.team if body.team is not None else body.team_id, priority=body.priority, skill=body.skill,
            actor_agent_id=caller.agent_id,
        )
        return admin.rule_dict(rule)


@router.delete("/api/v1/routing/rules/{rule_id}", summary="Delete a routing rule (admins)")
def delete_rule(rule_id: int, caller: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.write() as s:
        admin.do_delete_rule(s, rule_id, actor_agent_id=caller.agent_id)
    return {"ok": True}


@router.put("/api/v1/teams/{team_id}/settings", summary="Queue settings of a team (admins)")
def set_team_settings(team_id: int, body: TeamSettings, caller: Caller = Depends(require_admin),
                      hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Durations in seconds (positive numbers); `overflow_team` by id or name; `sla` targets under
    "default" and per priority ("10"); `business_hours` per day in a time zone. Refused with 422."""
    with hub.db.write() as s:
        team = do_set_team_settings(s, team_id, body, actor_agent_id=caller.agent_id)
        return {"id": team.id, "name": team.name, "settings": team.settings}


@router.post("/api/v1/conversations/{conversation_id}/accept", summary="Accept a chat offered to me")
def accept(
    conversation_id: int, caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    with hub.db.write() as s:
        conv = access.check_offer(caller.scope, get_conversation(s, conversation_id))
        hub.router.accept_offer(s, conv, caller.agent_id)
        return conversation_dict(conv)


@router.post("/api/v1/conversations/{conversation_id}/decline", summary="Decline a chat offered to me")
def decline(
    conversation_id: int, caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    """The chat goes back to the queue and is offered to the next agent."""
    with hub.db.write() as s:
        conv = access.check_offer(caller.scope, get_conversation(s, conversation_id))
        assignments.do_decline_offer(s, hub.router, conv, caller.agent_id)
        return conversation_dict(conv)
