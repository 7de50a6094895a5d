"""Path 1, plain SQL: known customers writing into open conversations that need no routing.

Nearly every inbound message is this case (an email's too: its thread keys are resolved and
recorded by hub.ingest.keys). A batch's messages, their conversations' last activity
and a `message.created` event each are written in one step (on PostgreSQL one statement: the
writes as data-modifying CTEs), with the message ids `lookup` drew.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from hub.clock import utcnow
from hub.conversations.message_rows import insert_messages
from hub.events import log, writes
from hub.ingest.keys import record_part
from hub.ingest.rows import message_created, message_row
from hub.plain_sql import PlainSql, rows_text
from hub.ports import InboundMessage, IngestResult

# The last activity of conversations a batch writes into.
TOUCH_CONVERSATIONS = "UPDATE conversations SET last_message_at = ?, updated_at = ? WHERE id IN ({rows})"


def write_known(session: Session, sql: PlainSql, batch: list[tuple[InboundMessage, int, int]],
                message_ids: list[int], keys: list[tuple[str, str, int]] | None = None) -> list[IngestResult]:
    """Write (message, contact id, conversation id) with these drawn ids: the messages, the
    conversations' last activity, the thread keys they claim ((channel, key, conversation id),
    hub.ingest.keys), the events."""
    now = utcnow()
    rows = [message_row(msg, message_id, conv_id, contact_id, now)
            for (msg, contact_id, conv_id), message_id in zip(batch, message_ids, strict=False)]
    log.lock(session)
    conversation_ids = sorted({conv_id for _, _, conv_id in batch})
    when = sql.when(now)
    parts: list[tuple[str, list[Any]]] = [
        insert_messages(sql, rows),
        (rows_text(TOUCH_CONVERSATIONS, "?", len(conversation_ids)), [when, when, *conversation_ids]),
        *([record_part(sql, keys, now)] if keys else []),
        writes.part(sql, [message_created(row) for row in rows], now),
    ]
    sql.together(parts)
    log.mark_appended(session)
    return [IngestResult(row["id"], row["conversation_id"], row["contact_id"], created=True) for row in rows]
