"""Delivery of agents' replies: sending a failed one again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlmodel import Session

from agents_ui.deps import Caller, current_caller, get_hub
from hub import access
from hub.conversations import actions
from hub.conversations.models import Message
from hub.conversations.schemas import message_dict
from hub.delivery.actions import do_retry_delivery
from hub.errors import NotFound
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.post("/{conversation_id}/messages/{message_id}/retry", summary="Send a failed reply again")
async def retry_delivery(conversation_id: int, message_id: int, caller: Caller = Depends(current_caller),
                         hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Whoever may reply on the conversation may send a reply that failed again: it goes back to
    the outbox, its attempts counted from zero (the event `delivery.retried`). A reply that left
    (sent, delivered, even undelivered after the provider took it) or is still being tried: 409."""
    def write(s: Session) -> dict[str, Any]:
        access.check_act(caller.scope, actions.get_conversation(s, conversation_id))
        message = s.get(Message, message_id)
        if message is None or message.conversation_id != conversation_id:
            raise NotFound(f"message {message_id} is not in conversation {conversation_id}")
        do_retry_delivery(s, message, actor_agent_id=caller.agent_id)
        return message_dict(message)

    return await hub.write_async(write)
