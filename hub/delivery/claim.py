"""Claiming due outbox rows, in plain SQL: one statement that takes them and returns them.

A row is due when pending and its time has come, or in flight with a lapsed lease (its worker
died). Claiming moves it to "in_flight", counts the attempt and leases it (hub.delivery.worker).
On PostgreSQL `FOR UPDATE SKIP LOCKED`, so several workers never take the same row; on SQLite the
write transaction itself is exclusive. Through the ORM this was a SELECT and a flushed UPDATE (two
round trips inside the writer's lock, and the ORM's CPU), for every reply at 15 a second.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from hub import jsontext
from hub.clock import utcnow
from hub.outbox.actions import OUTBOX
from hub.outbox.models import OutboxItem
from hub.plain_sql import PlainSql, read_when

_COLUMNS = tuple(c.name for c in OUTBOX.columns)
_TIMES = tuple(c.name for c in OUTBOX.columns if c.name.endswith(("_at", "_until")))
# How `last_error` starts when an attempt's outcome is unknown: the claim writes it on a row it
# takes in flight after its lease (the claim that took it before committed before sending, and
# nobody recorded how that attempt ended); a retry after `OutcomeUnknown` (a timeout once the item
# was handed over) records it at the start of its error. Every way back to pending sets
# `last_error`, so on a claimed row it means exactly that (`OutboundMessage.outcome_unknown`: the
# adapter may look whether the provider has it before sending again).
OUTCOME_UNKNOWN = "outcome unknown, the provider may have it"
_STOPPED = f"{OUTCOME_UNKNOWN}: the attempt stopped before its outcome was recorded"
# Parameters: the lease's end, now, _STOPPED, the channels, now (due), now (lapsed), how many.
_CLAIM = (
    "UPDATE outbox SET status = 'in_flight', attempts = attempts + 1, lease_until = ?, updated_at = ?, "
    "last_error = CASE WHEN status = 'in_flight' THEN ? ELSE last_error END "
    "WHERE id IN (SELECT id FROM outbox WHERE channel IN ({channels}) AND ((status = 'pending' AND "
    "next_attempt_at <= ?) OR (status = 'in_flight' AND lease_until < ?)) ORDER BY next_attempt_at LIMIT ?{lock}) "
    "RETURNING " + ", ".join(_COLUMNS)
)


@lru_cache(maxsize=64)
def _claim_text(channels: int, postgres: bool) -> str:
    return _CLAIM.format(channels=", ".join(["?"] * channels), lock=" FOR UPDATE SKIP LOCKED" if postgres else "")


def claim(session: Session, channels: list[str], limit: int, lease: timedelta) -> list[OutboxItem]:
    """Up to `limit` due rows of these channels, oldest due first, claimed for `lease`: as they now
    are, entities outside the session (the worker reads them; nothing writes them back)."""
    if not channels:
        return []
    sql = PlainSql.of(session)
    now = utcnow()
    when = sql.when(now)
    sql.execute(_claim_text(len(channels), not sql.sqlite),
                [sql.when(now + lease), when, _STOPPED, *channels, when, when, limit])
    items = [_item(row) for row in sql.fetchall()]
    items.sort(key=lambda item: (item.next_attempt_at, item.id or 0))  # RETURNING keeps no order
    return items


def _item(values: Any) -> OutboxItem:
    row: dict[str, Any] = dict(zip(_COLUMNS, values, strict=True))
    for column in _TIMES:
        if row[column] is not None:
            row[column] = read_when(row[column])
    if isinstance(row["payload"], str):  # SQLite hands JSON back as text
        row["payload"] = jsontext.loads(row["payload"])
    return OutboxItem(**row)


