"""Messages, internal notes, and what became of a reply on its way to the customer.

`message` in a payload is the message as the API answers it (`message_dict`).
"""

from __future__ import annotations

from typing import Any

from hub.events.types.base import TypedEvent, column, event, shared


@shared
class _OfMessage(TypedEvent):
    conversation_id: int = column()
    contact_id: int = column()
    actor_agent_id: int | None = column(default=None)


@event("message.created", "public")
class MessageCreated(_OfMessage):
    """A customer's message (no actor) or an agent's reply (the agent as actor)."""

    message: dict[str, Any]


@event("note.created", "agents")
class NoteCreated(_OfMessage):
    """An internal note; `mentions`: the agents it @mentions."""

    message: dict[str, Any]
    mentions: list[int]


@event("delivery.status_changed", "public")
class DeliveryStatusChanged(_OfMessage):
    """A reply's delivery status moved forward (sent, delivered, failed...)."""

    message_id: int
    status: str
    error: str | None
    message: dict[str, Any]


@event("delivery.retry_scheduled", "agents")
class DeliveryRetryScheduled(_OfMessage):
    """Sending a reply failed for now; it is tried again at `next_attempt_at` (ISO 8601)."""

    message_id: int
    attempts: int
    error: str
    next_attempt_at: str


@event("delivery.retried", "public")
class DeliveryRetried(_OfMessage):
    """An agent sent a failed reply again: it is pending once more."""

    message_id: int
    status: str
    previous_error: str | None
    message: dict[str, Any]
