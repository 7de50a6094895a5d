"""Plain-dict views of conversations and messages, used in event payloads and API answers."""

from __future__ import annotations

from typing import Any

from hub.conversations.models import Conversation, Message


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def message_dict(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "contact_id": m.contact_id,
        "channel": m.channel,
        "direction": m.direction,
        "author_agent_id": m.author_agent_id,
        "text": m.text,
        "html": m.html,
        "subject": m.subject,
        "attachments": m.attachments,
        "provider_id": m.provider_id,
        "delivery_status": m.delivery_status,
        "delivery_error": m.delivery_error,
        "created_at": _iso(m.created_at),
    }


def conversation_dict(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "contact_id": c.contact_id,
        "channel": c.channel,
        "source": c.source,
        "subject": c.subject,
        "status": c.status,
        "snoozed_until": _iso(c.snoozed_until),
        "team_id": c.team_id,
        "assignee_id": c.assignee_id,
        "priority": c.priority,
        "waiting_since": _iso(c.waiting_since),
        "first_response_at": _iso(c.first_response_at),
        "last_message_at": _iso(c.last_message_at),
        "resolved_at": _iso(c.resolved_at),
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
    }
