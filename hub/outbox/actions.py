"""Putting an item in the outbox; the delivery worker (hub.delivery) sends it after the commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from hub.db import OUTBOX_WRITTEN, table_of
from hub.outbox.models import OutboxItem
from hub.plain_sql import PlainSql, insert_text, new_row

OUTBOX = table_of(OutboxItem)


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


def enqueue_part(session: Session, sql: PlainSql, *, channel: str, payload: dict[str, Any], message_id: int,
                 conversation_id: int, now: datetime) -> tuple[str, list[Any]]:
    """`do_enqueue`'s row as a plain-SQL statement for `PlainSql.together` (an agent's reply, written
    with its message): every column of `outbox` (hub.plain_sql.new_row) but the id it draws, the
    times `now`. The caller runs it in this transaction."""
    row = new_row(OUTBOX, channel=channel, message_id=message_id, conversation_id=conversation_id, payload=payload,
                  next_attempt_at=now, created_at=now, updated_at=now)
    del row["id"]
    session.info[OUTBOX_WRITTEN] = True
    return insert_text(OUTBOX.name, tuple(row)), sql.values(row)
