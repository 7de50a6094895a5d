"""Outbox writes and delivery-status bookkeeping (a send that went through: hub.delivery.sent).

Statuses only move forward: a late "sent" callback never overwrites "delivered".
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.conversations.models import Message
from hub.conversations.schemas import message_dict
from hub.db import OUTBOX_WRITTEN
from hub.delivery.models import DeliveryReceipt
from hub.errors import Conflict
from hub.events import log
from hub.events.types import DeliveryRetried, DeliveryRetryScheduled, DeliveryStatusChanged
from hub.outbox.models import OutboxItem

STATUS_RANK = {
    "pending": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


def backoff(attempts: int, *, base: float = 2.0, cap: float = 600.0) -> timedelta:
    """Exponential backoff with full jitter (AWS architecture blog's recommendation)."""
    return timedelta(seconds=random.uniform(base / 2, min(cap, base * 2 ** max(0, attempts - 1))))


def moves(current: str | None, status: str, *, force: bool = False) -> bool:
    """Whether a message's delivery status may become `status`: forward only, unless forced."""
    new = STATUS_RANK.get(status)
    return new is not None and (force or new > STATUS_RANK.get(current or "pending", 0))


def _set_message_status(
    session: Session, message: Message, status: str, error: str | None, *, force: bool = False
) -> bool:
    if not moves(message.delivery_status, status, force=force):
        return False
    message.delivery_status = status
    if error is not None:
        message.delivery_error = error
    assert message.id is not None
    log.append(session, DeliveryStatusChanged(
        conversation_id=message.conversation_id, contact_id=message.contact_id, message_id=message.id,
        status=status, error=message.delivery_error, message=message_dict(message)))
    return True


# A failure's stable reason and params (hub.ports.SendError), kept in the message's metadata with
# the `delivery_error` text they explain: the console shows them in the agent's language while
# they still match it (a later status with other words makes them stale without a write here).
WHY_KEY = "delivery_reason"


def _keep_why(message: Message, error: str, why: dict[str, Any] | None) -> None:
    meta = {k: v for k, v in (message.meta or {}).items() if k != WHY_KEY}
    if why is not None:
        meta[WHY_KEY] = {"error": error, **why}
    if meta != (message.meta or {}):
        message.meta = meta


def do_record_retry(session: Session, item: OutboxItem, error: str, *, max_attempts: int,
                    why: dict[str, Any] | None = None) -> bool:
    """Returns True if the item will be retried, False if it has now failed for good. `why`:
    `{"reason", "params"}` of the error (hub.ports.SendError), for the console's words."""
    if item.attempts >= max_attempts:
        gave_up = {"reason": "gave_up", "params": {"attempts": item.attempts}, "then": why} if why else None
        do_record_failed(session, item, f"gave up after {item.attempts} attempts: {error}", why=gave_up)
        return False
    now = utcnow()
    item.status = "pending"
    item.lease_until = None
    item.last_error = error
    item.next_attempt_at = now + backoff(item.attempts)
    item.updated_at = now
    if item.message_id is not None:
        message = session.get(Message, item.message_id)
        if message is not None and message.delivery_error != f"retrying: {error}":
            message.delivery_error = f"retrying: {error}"
            assert message.id is not None
            log.append(session, DeliveryRetryScheduled(
                conversation_id=message.conversation_id, contact_id=message.contact_id,
                message_id=message.id, attempts=item.attempts, error=error,
                next_attempt_at=item.next_attempt_at.isoformat()))
    return True


def do_record_failed(session: Session, item: OutboxItem, reason: str, *, why: dict[str, Any] | None = None) -> None:
    """`why`: `{"reason", "params"}` of `reason` (hub.ports.SendError), for the console's words."""
    item.status = "failed"
    item.lease_until = None
    item.last_error = reason
    item.updated_at = utcnow()
    if item.message_id is not None:
        message = session.get(Message, item.message_id)
        if message is not None:
            _keep_why(message, reason, why)
            _set_message_status(session, message, "failed", reason, force=True)


def do_retry_delivery(session: Session, message: Message, *, actor_agent_id: int) -> OutboxItem:
    """Send a failed reply again: its outbox row goes back to pending, attempts from zero.

    Precondition: the caller may reply on the message's conversation (hub.access.check_act).
    Only a row that failed for good is taken back; a reply that was sent (whatever the provider
    said later: delivered, undelivered) or is still being tried is refused, so a retry never
    sends a second copy of something that left.
    """
    item = None
    if message.direction == "out":
        item = session.execute(
            select(OutboxItem).where(col(OutboxItem.message_id) == message.id)
            .order_by(col(OutboxItem.id).desc())
        ).scalars().first()
    if item is None:
        raise Conflict("only an agent's reply to the customer can be sent again", reason="not_retryable")
    if item.status != "failed":
        raise Conflict(f"this reply is {message.delivery_status or item.status}: only a reply that failed "
                       "can be sent again", reason="not_retryable")
    now = utcnow()
    item.status = "pending"
    item.attempts = 0
    item.next_attempt_at = now
    item.lease_until = None
    item.last_error = None
    item.updated_at = now
    session.info[OUTBOX_WRITTEN] = True  # wakes the delivery worker after the commit
    previous_error = message.delivery_error
    message.delivery_status = "pending"
    message.delivery_error = None
    assert message.id is not None
    log.append(session, DeliveryRetried(
        conversation_id=message.conversation_id, contact_id=message.contact_id, actor_agent_id=actor_agent_id,
        message_id=message.id, status="pending", previous_error=previous_error,
        message=message_dict(message)))
    return item


def error_text(code: str | None, message: str | None) -> str | None:
    if code is None and message is None:
        return None
    return " ".join(part for part in (f"[{code}]" if code else None, message) if part)


def do_apply_delivery_update(
    session: Session, *, channel: str, provider_id: str, status: str, error_code: str | None,
    error_message: str | None,
) -> bool:
    """Apply a provider status callback. Unknown provider ids are kept until the message appears."""
    message = session.execute(
        select(Message).where(col(Message.channel) == channel, col(Message.provider_id) == provider_id)
    ).scalars().first()
    if message is None:
        session.add(DeliveryReceipt(channel=channel, provider_id=provider_id, status=status,
                                    error_code=error_code, error_message=error_message))
        return False
    return _set_message_status(session, message, status, error_text(error_code, error_message))


def due_filter(now: datetime) -> Any:
    return (OutboxItem.status == "pending") & (OutboxItem.next_attempt_at <= now)
