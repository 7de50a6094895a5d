"""Claiming due outbox rows, in plain SQL: one statement that takes them and returns them, each
with its conversation's thread keys (oldest first: an email's In-Reply-To and References).

A row is due when pending and its time has come, or in flight with a lapsed lease (its worker
died). Claiming moves it to "in_flight", counts the attempt and leases it (hub.delivery.worker).
On PostgreSQL `FOR UPDATE SKIP LOCKED`, so several workers never take the same row; on SQLite the
write transaction itself is exclusive. Through the ORM this was a SELECT and a flushed UPDATE, then
a read of the thread keys (three round trips inside the writer's lock, and the ORM's CPU), for every
reply at 15 a second.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import NamedTuple

from sqlmodel import Session

from hub import jsontext
from hub.clock import utcnow
from hub.outbox.actions import OUTBOX
from hub.outbox.models import OutboxItem
from hub.plain_sql import PlainSql, read_row

_COLUMNS = tuple(c.name for c in OUTBOX.columns)
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
    "RETURNING " + ", ".join(_COLUMNS) + ", {keys}"
)
# The row's conversation's thread keys, oldest first, in the RETURNING list: on SQLite a JSON array.
_KEYS = {
    True: "(SELECT json_group_array(key) FROM (SELECT key FROM thread_keys "
          "WHERE conversation_id = outbox.conversation_id ORDER BY id))",
    False: "ARRAY(SELECT key FROM thread_keys WHERE conversation_id = outbox.conversation_id ORDER BY id)",
}


class Claimed(NamedTuple):
    """What a claim took, and the thread keys of their conversations (by conversation id)."""

    items: list[OutboxItem]
    thread_keys: dict[int, tuple[str, ...]]


@lru_cache(maxsize=64)
def _claim_text(channels: int, postgres: bool) -> str:
    return _CLAIM.format(channels=", ".join(["?"] * channels), lock=" FOR UPDATE SKIP LOCKED" if postgres else "",
                         keys=_KEYS[not postgres])


def claim(session: Session, channels: list[str], limit: int, lease: timedelta) -> Claimed:
    """Up to `limit` due rows of these channels, oldest due first, claimed for `lease`: as they now
    are, entities outside the session (the worker reads them; nothing writes them back)."""
    if not channels:
        return Claimed([], {})
    sql = PlainSql.of(session)
    now = utcnow()
    when = sql.when(now)
    sql.execute(_claim_text(len(channels), not sql.sqlite),
                [sql.when(now + lease), when, _STOPPED, *channels, when, when, limit])
    items: list[OutboxItem] = []
    keys: dict[int, tuple[str, ...]] = {}
    for *values, thread_keys in sql.fetchall():
        item = OutboxItem(**read_row(OUTBOX, values))
        items.append(item)
        if item.conversation_id is not None:
            found = jsontext.loads(thread_keys) if isinstance(thread_keys, str) else thread_keys
            if found:
                keys[item.conversation_id] = tuple(found)
    items.sort(key=lambda item: (item.next_attempt_at, item.id or 0))  # RETURNING keeps no order
    return Claimed(items, keys)

