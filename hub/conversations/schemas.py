"""Plain-dict views of conversations and messages, used in event payloads and API answers."""

from __future__ import annotations

from typing import Any

from hub.conversations.models import Conversation, Message


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


_MESSAGE_FIELDS = ("id", "conversation_id", "contact_id", "channel", "direction", "author_agent_id", "text",
                   "html", "subject", "attachments", "provider_id", "delivery_status", "delivery_error", "client_id")


def message_dict(m: Message) -> dict[str, Any]:
    out = {name: getattr(m, name) for name in _MESSAGE_FIELDS}
    out["metadata"] = m.meta or {}
    out["automatic"] = bool(m.automatic)
    out["created_at"] = _iso(m.created_at)
    return out


def message_row_dict(row: dict[str, Any]) -> dict[str, Any]:
    """`message_dict` of a message row written without an ORM entity (hub.ingest.rows)."""
    out = {name: row[name] for name in _MESSAGE_FIELDS}
    out["metadata"] = row.get("metadata") or {}
    out["automatic"] = bool(row.get("automatic"))  # SQLite reads it back as 0 or 1
    out["created_at"] = _iso(row["created_at"])
    return out


# The columns `conversation_dict` reads: a list reads just these (a Row has them as attributes).
CONVERSATION_COLUMNS = ("id", "contact_id", "channel", "source", "subject", "status", "snoozed_until", "team_id",
                        "assignee_id", "priority", "waiting_since", "first_response_at", "last_message_at",
                        "resolved_at", "created_at", "updated_at")


def conversation_dict(c: Conversation | Any) -> dict[str, Any]:
    """A conversation's fields; `c` is a `Conversation` or a row with the CONVERSATION_COLUMNS."""
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
