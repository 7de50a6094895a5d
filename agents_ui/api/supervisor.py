"""The supervisor's view: queues and agents live, and (bulk) reassignment or transfer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from agents_ui.api.schemas import In
from agents_ui.deps import Caller, get_hub, require_supervisor
from hub.conversations.schemas import conversation_dict
from hub.errors import Invalid
from hub.routing import assignments, supervisor_views
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/supervisor", tags=["supervision"])


class BulkAssignIn(In):
    conversation_ids: list[int] = Field(min_length=1, max_length=500)
    assignee_id: int | None = Field(default=None, description="the agent to give them to (above capacity too)")
    team_id: int | None = Field(default=None, description="the team (queue) to move them to")
    note: str | None = Field(default=None, max_length=5000, description="shown on each conversation's timeline")


@router.get("/queues", summary="Each queue: waiting, longest wait, SLA at risk, agents online")
def queues(_: Caller = Depends(require_supervisor), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.read() as s:
        return {"items": supervisor_views.queue_overview(s)}


@router.get("/agents", summary="Each agent: presence, load and capacity per channel, idle time")
def agents(_: Caller = Depends(require_supervisor), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    with hub.db.read() as s:
        return {"items": supervisor_views.agent_overview(s, hub.options.routing.default_capacity)}


@router.post("/assign", summary="Reassign or transfer one or many conversations")
def bulk_assign(body: BulkAssignIn, caller: Caller = Depends(require_supervisor),
                hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """A transfer to a team without an agent puts the conversations in that team's queue, where
    routing picks them up. Giving them to an agent may exceed the agent's capacity: the
    supervisor decides."""
    if body.assignee_id is None and body.team_id is None:
        raise Invalid("name an assignee_id, a team_id, or both")
    with hub.db.write() as s:
        convs = assignments.do_transfer(s, hub.router, body.conversation_ids, assignee_id=body.assignee_id,
                                        team_id=body.team_id, actor_agent_id=caller.agent_id, note=body.note)
        return {"items": [conversation_dict(c) for c in convs]}
