"""Call requests: an agent asks the conversation's channel to call the customer back. The request
is an outbox row of kind "call" (hub.outbox.models.CALL), written with its event; the channel's
adapter receives an `OutboundCall` and places the call."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from hub.clock import utcnow
from hub.contacts.opt_outs import check_may_message
from hub.conversations.models import Conversation
from hub.events import log
from hub.events.types import CallRequested
from hub.outbox.actions import do_enqueue
from hub.outbox.models import CALL, OutboxItem


def do_request_call(session: Session, conv: Conversation, *, agent_id: int | None,
                    metadata: dict[str, Any] | None = None) -> OutboxItem:
    """Queue a call to the conversation's customer, from its entry point, on its channel. Refused
    (Conflict) when the customer opted out of that channel. `metadata` is passed to the adapter."""
    assert conv.id is not None
    check_may_message(session, conv.contact_id, conv.channel)
    item = do_enqueue(session, channel=conv.channel, conversation_id=conv.id, payload={
        "kind": CALL, "source": conv.source, "metadata": {**(metadata or {}), "contact_id": conv.contact_id}})
    session.flush()
    conv.updated_at = utcnow()
    assert item.id is not None
    log.append(session, CallRequested(conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=agent_id,
                                      outbox_id=item.id, channel=conv.channel))
    return item
