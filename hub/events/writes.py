"""Event rows written in plain SQL (hub.plain_sql), the one way events reach the log.

Every write is counted (`PlainSql.event_writes`): the routing board reads the log again in a
transaction only when that count moved (nobody else can append while it holds the write lock), so
an event written any other way would be missed by routing until the next transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub import jsontext
from hub.events.types import TypedEvent
from hub.plain_sql import PlainSql, rows_text, update_text

_COLUMNS = "type, conversation_id, contact_id, actor_agent_id, private, payload, created_at"
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES {{rows}} RETURNING id"
_INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?)"


def part(sql: PlainSql, events: Sequence[TypedEvent], created_at: datetime) -> tuple[str, list[Any]]:
    """The INSERT of these catalogued events (hub.events.types), created at `created_at`, as a
    statement for `PlainSql.together` (ids back, in the order of `events`), counted as an event write."""
    sql.event_writes += 1
    when = sql.when(created_at)
    params: list[Any] = []
    for e in events:
        params += (e.TYPE, *e.ids(), e.private, jsontext.dumps(e.payload()), when)
    return rows_text(_INSERT, _INSERT_ROW, len(events)), params


def write(sql: PlainSql, events: Sequence[TypedEvent], created_at: datetime) -> list[int]:
    """Append these events now; their ids, in order."""
    if not events:
        return []
    return sorted(int(row[0]) for row in sql.together([part(sql, events, created_at)]))


def update_with_event(sql: PlainSql, table: str, row_id: int, values: dict[str, Any], event: TypedEvent,
                      created_at: datetime) -> int:
    """Set these columns of one row and append its event, in one statement on PostgreSQL; the
    event's id."""
    values_part = (update_text(table, tuple(values)), [*sql.values(values), row_id])
    return int(sql.together([values_part, part(sql, [event], created_at)])[0][0])
