"""The catalogue of event types: the schema of what the agent websocket sends (and webhooks will)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from agents_ui.deps import Caller, current_caller
from hub.events.catalogue import catalogue_json

router = APIRouter(prefix="/api/v1/events", tags=["events"])


class EventTypeOut(BaseModel):
    type: str = Field(description="the event's `type`, e.g. conversation.assigned")
    audience: Literal["public", "agents"] = Field(
        description="public: may reach the customer's own feed; agents: never leaves the agents' side")
    description: str
    columns: list[Literal["conversation_id", "contact_id", "actor_agent_id"]] = Field(
        description="the ids the event carries beside its data (the others are null)")
    data: dict[str, Any] = Field(description="a JSON Schema of the event's `data`")


class CatalogueOut(BaseModel):
    items: list[EventTypeOut]


@router.get("/catalogue", summary="Every event type, with the schema of its data", response_model=CatalogueOut)
def catalogue(_: Caller = Depends(current_caller)) -> dict[str, Any]:
    """The events of the agent websocket and of a contact's timeline are these, each as
    `{id, type, conversation_id, contact_id, actor_agent_id, at, data}`."""
    return {"items": catalogue_json()}
