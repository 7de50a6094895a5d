"""Event rows written in plain SQL (hub.plain_sql), the one way events reach the log.

Every write is counted (`PlainSql.event_writes`): the routing board reads the log again in a
transaction only when that count moved (nobody else can append while it holds the write lock), so
an event written any other way would be missed by routing until the next transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub import jsontext
from hub.plain_sql import PlainSql, rows_text, update_text

_COLUMNS = "type, conversation_id, contact_id, actor_agent_id, private, payload, created_at"
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES {{rows}} RETURNING id"
_INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event row not written yet (`write`, or a caller's statement through `part`)."""

    type: str
    conversation_id: int | None
    contact_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    actor_agent_id: int | None = None
    private: bool = False


def part(sql: PlainSql, events: list[NewEvent]) -> tuple[str, list[Any]]:
    """The INSERT of these events (ids back, in order) as a statement for `PlainSql.together`,
    counted as an event write. Ids follow the order of `events`."""
    sql.event_writes += 1
    params: list[Any] = []
    for e in events:
        params += (e.type, e.conversation_id, e.contact_id, e.actor_agent_id, e.private,
                   jsontext.dumps(e.payload), sql.when(e.created_at))
    return rows_text(_INSERT, _INSERT_ROW, len(events)), params


def write(sql: PlainSql, events: list[NewEvent]) -> list[int]:
    """Append these events now; their ids, in order."""
    if not events:
        return []
    return sorted(int(row[0]) for row in sql.together([part(sql, events)]))


def update_with_event(sql: PlainSql, table: str, row_id: int, values: dict[str, Any], event: NewEvent) -> int:
    """Set these columns of one row and append its event, in one statement on PostgreSQL; the
    event's id."""
    values_part = (update_text(table, tuple(values)), [*sql.values(values), row_id])
    return int(sql.together([values_part, part(sql, [event])])[0][0])
