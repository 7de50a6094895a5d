"""An agent writing first to a customer: a new conversation on a channel (an email to a contact),
from one of the channel's entry points (the mailbox the agent picks; `ChannelAdapter.sources`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator
from sqlmodel import Session

from agents_ui.api.schemas import Copies, In, Uploads
from agents_ui.deps import Caller, current_caller, get_hub
from hub import access
from hub.attachments.actions import check_uploads
from hub.conversations.outreach import check_start_conversation
from hub.conversations.sanitize import sanitize_html_async
from hub.conversations.schemas import conversation_dict, message_dict
from hub.errors import Invalid, NotFound
from hub.ports import ChannelAdapter, EntryPoint
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])
sources_router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


class StartIn(In):
    channel: str = Field(default="email", max_length=16, description="a channel that is on (email)")
    source: str = Field(default="", max_length=200, description="the entry point to write from: one of "
                        "`GET /api/v1/channels/{channel}/sources` (a mailbox's address, any case); empty: the "
                        "first of them. Another address is refused (422)")
    subject: str | None = Field(default=None, max_length=500)
    text: str = Field(min_length=1, max_length=50_000)
    html: str | None = Field(default=None, max_length=500_000)
    cc: Copies = Field(default_factory=list, max_length=20, description="addresses to copy")
    attachments: Uploads = Field(default_factory=list, max_length=20,
                                 description="ids (or URLs) of the caller's uploads")

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return " ".join(value.split()) if value else value


@router.post("/{contact_id}/conversations", status_code=201,
             summary="Start a conversation with this customer (an agent writing first, e.g. an email)")
async def start_conversation(contact_id: int, body: StartIn, caller: Caller = Depends(current_caller),
                             hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """The conversation is the caller's (assigned to them); its first message is queued for delivery."""
    adapter = _adapter(hub, body.channel)
    source = _source(adapter, body.source)
    html = await sanitize_html_async(body.html)

    def op(s: Session) -> dict[str, Any]:
        access.check_contact(s, caller.scope, contact_id)
        files = check_uploads(s, caller.agent_id, body.attachments)
        conv, msg = check_start_conversation(
            s, contact_id=contact_id, channel=body.channel, address_kind=adapter.address_kind, source=source,
            subject=body.subject, agent_id=caller.agent_id, text=body.text, html=html, cc=body.cc, attachments=files)
        return {"conversation": conversation_dict(conv), "message": message_dict(msg)}

    return await hub.write_async(op)


class SourceOut(BaseModel):
    address: str = Field(description="what `source` names when starting a conversation (a mailbox's address)")
    name: str = Field(description="the name customers see (a mailbox's display name; may be empty)")


class SourcesOut(BaseModel):
    items: list[SourceOut] = Field(description="the default first; empty when the channel lists none")


@sources_router.get("/{channel}/sources", summary="Where an agent may write from on a channel (email: the mailboxes)")
async def list_sources(channel: str, _: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> SourcesOut:
    return SourcesOut(items=[SourceOut(address=p.address, name=p.name) for p in _sources(_adapter(hub, channel))])


def _adapter(hub: Hub, channel: str) -> ChannelAdapter:
    adapter = hub.adapters.get(channel)
    if adapter is None:
        raise NotFound(f"the {channel} channel is not on")
    return adapter


def _sources(adapter: ChannelAdapter) -> tuple[EntryPoint, ...]:
    listed = getattr(adapter, "sources", None)  # optional (hub.ports.BaseAdapter.sources)
    return tuple(listed()) if listed is not None else ()


def _source(adapter: ChannelAdapter, wanted: str) -> str:
    """The entry point to write from, as the channel spells it: `wanted` when it is one of the
    channel's, its first when `wanted` is empty; as given when the channel lists none."""
    points = _sources(adapter)
    if not points:
        return wanted
    if not wanted.strip():
        return points[0].address
    for point in points:
        if point.address.lower() == wanted.strip().lower():
            return point.address
    raise Invalid(f"{wanted!r} is not one of the {adapter.channel} channel's addresses to write from")
