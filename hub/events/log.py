"""Appending to the event log, and reading it back in commit order.

Gap-free resume (DESIGN.md contract 4). Readers page through the log by `id > cursor`. That is only
safe if ids become visible in increasing order: a reader at N must never later find a committed
row with an id <= N. A plain sequence does not promise that on PostgreSQL, because transaction A
can take id 10, transaction B id 11, and B commit first.

The scheme: every transaction that appends events holds one transaction-scoped advisory lock
(`pg_advisory_xact_lock`, taken by `Database.write()` before anything else) until it commits or
rolls back. Ids are drawn from the sequence only while holding the lock, so the transaction that
drew id k has committed or aborted before any transaction can draw an id > k. Hence once a reader
sees id k, every id < k is either visible or will never exist. The lock is taken first, before any
row lock, so a holder never waits on a row some waiter for the lock has locked: no deadlock. (An
earlier version took it lazily at the first append, after row updates, and deadlocked under load.)
On SQLite every write transaction starts with BEGIN IMMEDIATE and holds the single database write
lock, which gives the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Text, cast, column, func, select, table
from sqlmodel import Session, col

from hub import jsontext
from hub.clock import utcnow
from hub.db import EVENTS_WRITTEN, WRITE_LOCK_HELD, table_of
from hub.events import writes
from hub.events.models import Event
from hub.events.types import TypedEvent
from hub.plain_sql import PlainSql, read_when


def lock(session: Session) -> None:
    """Check that this transaction holds the write lock (PostgreSQL; a no-op on SQLite).

    `Database.write()` takes it first thing. Taking it here, late, could deadlock: this
    transaction might already hold row locks that the current lock holder waits for.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    if session.info.get(WRITE_LOCK_HELD) is None or session.info[WRITE_LOCK_HELD] is not session.get_transaction():
        raise RuntimeError("events and routing need a transaction from Database.write() (serialized)")


def append(session: Session, event: TypedEvent) -> int:
    """Add an event (one of the catalogue's, hub.events.types) to the current write transaction,
    and return its id. Call it after the change it records (the event is what that change made).

    The row is written at once, in plain SQL on the session's connection (hub.events.writes, as
    ingest writes its events): as a SQLModel entity, its construction and its share of a flush cost
    several times the INSERT itself, and through SQLAlchemy Core's execute still twice
    (bench/RESULTS.md)."""
    return append_all(session, [event])[0]


def append_all(session: Session, events: Sequence[TypedEvent]) -> list[int]:
    """Add these events to the current write transaction, in order; their ids."""
    lock(session)
    ids = writes.write(PlainSql.of(session), events, utcnow())
    mark_appended(session)
    return ids


def mark_appended(session: Session) -> None:
    """Record that this transaction appended events (also when written in plain SQL, after `lock`):
    `Database.write()` then wakes the live fan-out after the commit."""
    session.info[EVENTS_WRITTEN] = True


@dataclass(frozen=True)
class EventView:
    """An event as readers see it, with its conversation's current team and assignee (for access).

    The payload stays the JSON text the log holds until someone asks for it as a dict: most events
    are only passed on to consoles, and their frames splice that text in as it is."""

    id: int
    type: str
    conversation_id: int | None
    contact_id: int | None
    actor_agent_id: int | None
    private: bool
    payload_json: str
    created_at: datetime
    team_id: int | None
    assignee_id: int | None

    @cached_property
    def payload(self) -> dict[str, Any]:
        return jsontext.loads(self.payload_json)

    @cached_property
    def wire_json(self) -> str:
        """The event as consoles receive it, as JSON text, made once however many sockets send it."""
        head = jsontext.dumps({
            "id": self.id,
            "type": self.type,
            "conversation_id": self.conversation_id,
            "contact_id": self.contact_id,
            "actor_agent_id": self.actor_agent_id,
            "at": self.created_at.isoformat(),
        })
        return f'{head[:-1]},"data":{self.payload_json}}}'



# The tail reader runs this on every wake-up, for every node: plain SQL on the driver, without
# SQLAlchemy's statement building and per-column result processing (both were a visible share of
# the hub's CPU under load, bench/RESULTS.md). Columns are converted as UTCDateTime would; the
# payload is read as text (PostgreSQL's driver would otherwise decode it into a dict).
_READ_AFTER = (
    "SELECT e.id, e.type, e.conversation_id, e.contact_id, e.actor_agent_id, e.private, "
    "CAST(e.payload AS TEXT), e.created_at, c.team_id, c.assignee_id FROM events e "
    "LEFT OUTER JOIN conversations c ON c.id = e.conversation_id WHERE e.id > {p} ORDER BY e.id LIMIT {p}"
)
_READ_AFTER_BY_PARAMSTYLE = {"qmark": _READ_AFTER.format(p="?"), "format": _READ_AFTER.format(p="%s"),
                             "pyformat": _READ_AFTER.format(p="%s")}


def read_after(session: Session, after_id: int, limit: int = 500) -> list[EventView]:
    conn = session.connection()
    return _views(conn.exec_driver_sql(_READ_AFTER_BY_PARAMSTYLE[conn.dialect.paramstyle], (after_id, limit)).all())


def read_after_cursor(cursor: Any, paramstyle: str, after_id: int, limit: int) -> list[EventView]:
    """`read_after` on a DB-API cursor of an autocommit connection (the event tail reader's own,
    hub.events.fanout): the read that runs after every commit, without SQLAlchemy in between."""
    cursor.execute(_READ_AFTER_BY_PARAMSTYLE[paramstyle], (after_id, limit))
    return _views(cursor.fetchall())


def _views(rows: Any) -> list[EventView]:
    return [
        EventView(id, type, conversation_id, contact_id, actor, bool(private), payload, read_when(created_at),
                  team_id, assignee_id)
        for id, type, conversation_id, contact_id, actor, private, payload, created_at, team_id, assignee_id in rows
    ]


def head_id(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(Event.id), 0))).scalar_one())


def count_after(session: Session, after_id: int) -> int:
    return int(session.execute(select(func.count()).where(col(Event.id) > after_id)).scalar_one())


# What readers need of an event's conversation (for access), named here rather than imported: the
# log depends on no domain package.
_CONVERSATIONS = table("conversations", column("id"), column("team_id"), column("assignee_id"))


def conversation_events(session: Session, conversation_id: int, *, leave_out: tuple[str, ...] = (),
                        since: datetime | None = None, until: datetime | None = None,
                        limit: int = 1000) -> list[EventView]:
    """One conversation's events in id order, created in [since, until), without the types in
    `leave_out` (the console's thread: its messages come from the messages table)."""
    e = table_of(Event).c
    c = _CONVERSATIONS.c
    stmt = (
        select(e.id, e.type, e.conversation_id, e.contact_id, e.actor_agent_id, e.private, cast(e.payload, Text),
               e.created_at, c.team_id, c.assignee_id)
        .outerjoin(_CONVERSATIONS, c.id == e.conversation_id)
        .where(e.conversation_id == conversation_id)
        .order_by(e.id)
        .limit(limit)
    )
    if leave_out:
        stmt = stmt.where(e.type.not_in(leave_out))
    if since is not None:
        stmt = stmt.where(e.created_at >= since)
    if until is not None:
        stmt = stmt.where(e.created_at < until)
    return [EventView(id, type, cid, contact_id, actor, bool(private), payload, created_at, team_id, assignee_id)
            for id, type, cid, contact_id, actor, private, payload, created_at, team_id, assignee_id
            in session.execute(stmt)]
