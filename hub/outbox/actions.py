"""Putting an item in the outbox; the delivery worker (hub.delivery) sends it after the commit."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from hub.db import OUTBOX_WRITTEN
from hub.outbox.models import OutboxItem


def do_enqueue(
    session: Session,
    *,
    channel: str,
    payload: dict[str, Any],
    message_id: int | None = None,
    conversation_id: int | None = None,
) -> OutboxItem:
    item = OutboxItem(channel=channel, message_id=message_id, conversation_id=conversation_id, payload=payload)
    session.add(item)
    session.info[OUTBOX_WRITTEN] = True
    return item
