"""An agent writing first to a customer: a new conversation on a channel (an email to a contact)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field, field_validator
from sqlmodel import Session

from agents_ui.api.schemas import Copies, In, Uploads
from agents_ui.deps import Caller, current_caller, get_hub
from hub import access
from hub.attachments.actions import check_uploads
from hub.conversations.outreach import check_start_conversation
from hub.conversations.sanitize import sanitize_html_async
from hub.conversations.schemas import conversation_dict, message_dict
from hub.errors import NotFound
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


class StartIn(In):
    channel: str = Field(default="email", max_length=16, description="a channel that is on (email)")
    source: str = Field(default="", max_length=200, description="the entry point to write from (a mailbox's "
                        "address); empty: the channel's first")
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
    adapter = hub.adapters.get(body.channel)
    if adapter is None:
        raise NotFound(f"the {body.channel} channel is not on")
    html = await sanitize_html_async(body.html)

    def op(s: Session) -> dict[str, Any]:
        access.check_contact(s, caller.scope, contact_id)
        files = check_uploads(s, caller.agent_id, body.attachments)
        conv, msg = check_start_conversation(
            s, contact_id=contact_id, channel=body.channel, address_kind=adapter.address_kind, source=body.source,
            subject=body.subject, agent_id=caller.agent_id, text=body.text, html=html, cc=body.cc, attachments=files)
        return {"conversation": conversation_dict(conv), "message": message_dict(msg)}

    return await hub.write_async(op)
