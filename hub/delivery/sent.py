"""Recording a send that went through, in plain SQL: the delivery worker's most frequent write.

A reply the provider took moves its outbox row to "sent" and its message to the provider's first
status (with a `delivery.status_changed` event), then applies any status callbacks that overtook
the send's answer (hub.delivery.models.DeliveryReceipt). One statement reads the row, its message
and whether such callbacks wait; one writes (on PostgreSQL the updates and the events as
data-modifying CTEs). Through the ORM this was six statements on PostgreSQL, each a round trip
inside the writer's lock (bench.write_costs; bench/RESULTS.md, "Issue 17, session 10").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from hub import jsontext
from hub.clock import utcnow
from hub.conversations.message_rows import MESSAGE_COLUMNS
from hub.conversations.schemas import message_row_dict
from hub.conversations.threads import record_keys
from hub.delivery.actions import error_text, moves
from hub.delivery.models import DeliveryReceipt
from hub.events import log, writes
from hub.events.types import DeliveryStatusChanged, TypedEvent
from hub.plain_sql import PlainSql, read_when, rows_text, update_text

# Parameters: the provider id (callbacks that wait for it), the outbox id.
_READ = (
    "SELECT o.status, o.channel, o.conversation_id, "
    "EXISTS (SELECT 1 FROM delivery_receipts r WHERE r.channel = m.channel AND r.provider_id = ?), "
    + ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS)
    + " FROM outbox o LEFT JOIN messages m ON m.id = o.message_id WHERE o.id = ?"
)
_SENT = ("status", "provider_id", "lease_until", "last_error", "updated_at")
_MESSAGE_SET = ("provider_id", "delivery_status", "delivery_error")
_DELETE_RECEIPTS = "DELETE FROM delivery_receipts WHERE id IN ({rows})"
_JSON = ("attachments", "metadata")


def do_record_sent(session: Session, item_id: int, provider_id: str | None, status: str,
                   thread_keys: Sequence[str] = ()) -> bool:
    """The provider took outbox row `item_id` (`status`: its first word for it). False, and
    nothing written, when the row is no longer in flight (recorded already: a rerun; or another
    worker's now). `thread_keys`: keys the adapter minted, recorded for the conversation (answers
    carrying them thread there)."""
    sql = PlainSql.of(session)
    sql.execute(_READ, (provider_id, item_id))
    found = sql.fetchone()
    if found is None or found[0] != "in_flight":
        return False
    _, channel, conversation_id, early, *message_values = found
    now = utcnow()
    parts: list[tuple[str, list[Any]]] = [
        (update_text("outbox", _SENT), ["sent", provider_id, None, None, sql.when(now), item_id])]
    message = _message(sql, message_values)
    if message is not None:
        if (message["delivery_error"] or "").startswith("retrying: "):
            message["delivery_error"] = None  # the provider took it: the note about earlier attempts is stale
        message["provider_id"] = provider_id
        events: list[TypedEvent] = []
        _move(message, status, None, events)
        if early and provider_id:
            parts += _apply_early(session, sql, message, provider_id, events)
        parts.append((update_text("messages", _MESSAGE_SET), [*(message[c] for c in _MESSAGE_SET), message["id"]]))
        if events:
            log.lock(session)
            parts.append(writes.part(sql, events, now))
            log.mark_appended(session)
    sql.together(parts)
    if conversation_id is not None and thread_keys:
        record_keys(session, channel, thread_keys, conversation_id)
    return True


def _message(sql: PlainSql, values: list[Any]) -> dict[str, Any] | None:
    """The message row as read (None: the row carries no message), its values as the ORM holds them."""
    row = dict(zip(MESSAGE_COLUMNS, values, strict=True))
    if row["id"] is None:
        return None
    for column in _JSON:
        if isinstance(row[column], str):  # SQLite hands JSON back as text
            row[column] = jsontext.loads(row[column])
    row["created_at"] = read_when(row["created_at"])
    return row


def _move(message: dict[str, Any], status: str, error: str | None, events: list[TypedEvent],
          force: bool = False) -> None:
    """`hub.delivery.actions`' status rule on a message row: forward only, with its event."""
    if not moves(message["delivery_status"], status, force=force):
        return
    message["delivery_status"] = status
    if error is not None:
        message["delivery_error"] = error
    events.append(DeliveryStatusChanged(
        conversation_id=message["conversation_id"], contact_id=message["contact_id"], message_id=message["id"],
        status=status, error=message["delivery_error"], message=message_row_dict(message)))


def _apply_early(session: Session, sql: PlainSql, message: dict[str, Any], provider_id: str,
                 events: list[TypedEvent]) -> list[tuple[str, list[Any]]]:
    """Status callbacks that overtook the send's answer, applied in order, then deleted (rare: a
    statement of their own)."""
    early = session.execute(
        select(DeliveryReceipt)
        .where(col(DeliveryReceipt.channel) == message["channel"], col(DeliveryReceipt.provider_id) == provider_id)
        .order_by(col(DeliveryReceipt.id))
    ).scalars().all()
    for receipt in early:
        _move(message, receipt.status, error_text(receipt.error_code, receipt.error_message), events)
    ids = [r.id for r in early]
    return [(rows_text(_DELETE_RECEIPTS, "?", len(ids)), ids)] if ids else []
