"""Engines and sessions for SQLite (embedded default) and PostgreSQL (scaled out).

Write transactions go through `Database.write()`. On SQLite they start with BEGIN IMMEDIATE, so
two writers queue on the database lock instead of failing when a read transaction tries to upgrade.
After a commit that appended events, the `on_events_committed` callback wakes the live fan-out;
after one that wrote to the outbox, `on_outbox_committed` wakes the delivery worker.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Table, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import class_mapper
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel, create_engine

from hub import jsontext

_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("hub_write_intent", default=False)

EVENTS_WRITTEN = "hub_events_written"
OUTBOX_WRITTEN = "hub_outbox_written"
# On PostgreSQL every write transaction that may append events or route takes this
# transaction-scoped advisory lock first, before touching any row: see hub.events.log for why
# event ids then commit in order, and hub.routing.actions for why capacity then holds. Taking it
# first, and only one such lock, is what keeps it deadlock-free: a transaction never holds a row
# lock while it waits for this one.
WRITE_LOCK_KEY = 7_283_001
WRITE_LOCK_HELD = "hub_write_lock_held"


def table_of(model: type[SQLModel]) -> Table:
    """The table of a `table=True` model (SQLModel's metaclass sets `__table__`, which mypy cannot see)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


M = TypeVar("M", bound=SQLModel)


def loaded_entity(model: type[M], row: dict[str, Any]) -> M:
    """An entity of `model` holding `row` (every column of its table, by attribute name), built as
    the ORM builds one it loads: no `__init__`, so none of SQLModel's per-field work (a sixth of
    the ingest writer's CPU for one new conversation). `row` is taken as it is, unvalidated: for
    values the hub built itself. Not in a session yet (`make_transient_to_detached`, then `add`,
    puts it there as if loaded); attribute changes before that are tracked as on any entity.
    tests/hub/test_loaded_entity.py compares it with the constructor's."""
    entity: M = _class_manager(model).new_instance()
    entity.__dict__.update(row)
    return entity


@functools.cache
def _class_manager(model: type[SQLModel]) -> Any:
    return class_mapper(model).class_manager


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """`hide_parameters`: a failing statement's error (and so every logged traceback) names the
    statement but not its values: they hold password hashes, tokens' hashes and customers' words."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if parsed.database in (None, "", ":memory:") else None,
            json_serializer=jsontext.dumps, json_deserializer=jsontext.loads, hide_parameters=True,
        )
        _setup_sqlite(engine)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    elif parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        # Ingest's hot path talks to psycopg's own cursor (hub.plain_sql).
        raise ValueError(f"PostgreSQL is reached through psycopg: use a postgresql:// URL, not {parsed.drivername}://")
    # No pool_pre_ping: it costs a round trip on every checkout, i.e. on every transaction (a tenth
    # of the ingest writer's time on PostgreSQL, bench/RESULTS.md). A connection found dead when
    # used raises once and SQLAlchemy then invalidates the whole pool; ingest retries such an
    # error (hub.runtime), other requests answer 5xx once.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_recycle=3600,
                         json_serializer=jsontext.dumps, json_deserializer=jsontext.loads, hide_parameters=True)


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below own the transaction start.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # No checkpoint inside a writer's COMMIT (SQLite's default every 1,000 pages): copying the
        # log into the database and fsyncing it there held the write lock for tens of ms, the p99
        # of routing's benchmark. A running hub checkpoints in the background instead
        # (Database.checkpoint, from Hub); a process that never does leaves it to the next one.
        cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # Database.autocommit_connection(): each statement is its own transaction
        # On the driver's connection: through SQLAlchemy's execution this was a third of the cost of
        # an empty write transaction (the ingest writer runs hundreds per second).
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


_BEGIN_LOCKED = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})".encode()


def _begin_locked(session: Session) -> None:
    """Start the transaction holding the write lock: BEGIN and the lock in one round trip, as one
    simple query on the driver's connection (psycopg would send its own BEGIN first and wait for
    it: a round trip more per write transaction, each paid by the ingest writer under load).
    Anything unexpected (a transaction already open, an error, a lost connection) is left to the
    usual statement, which raises as SQLAlchemy raises."""
    import psycopg  # only on PostgreSQL, which is reached through psycopg only (make_engine)

    driver = cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)
    if driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        with driver.lock:
            try:
                result = driver.pgconn.exec_(_BEGIN_LOCKED)
                if result.status == psycopg.pq.ExecStatus.TUPLES_OK:
                    return
                if driver.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                    driver.pgconn.exec_(b"ROLLBACK")  # BEGIN went through, the lock did not: again, below
            except Exception:  # noqa: BLE001, S110 - the usual statement below reports it properly
                pass
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY})


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.dialect = self.engine.dialect.name
        self.on_events_committed: Callable[[], None] | None = None
        self.on_outbox_committed: Callable[[], None] | None = None
        self._sqlite_writer = threading.RLock()
        self._pinned = threading.local()

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def autocommit_connection(self) -> Connection:
        """A connection outside any transaction (the caller closes it), for single-statement reads
        that run all the time (the event tail): no BEGIN and ROLLBACK round trips on PostgreSQL."""
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """On this thread, `write()` reuses one connection instead of a pool checkout (and reset
        on return) per transaction: for a thread that writes all the time, the ingest writer,
        where that was a third of an empty write transaction's cost. A connection found dead is
        replaced on its next use, as a pooled one is."""
        # Connected at the first write, inside it: a database that is down then fails that
        # transaction (its callers get the error) instead of the thread that serves them.
        self._pinned.wanted = True
        try:
            yield
        finally:
            self._pinned.wanted = False
            conn, self._pinned.conn = getattr(self._pinned, "conn", None), None
            if conn is not None:
                conn.close()

    @contextmanager
    def write(self, *, serialize: bool = True) -> Iterator[Session]:
        """One write transaction: commits on success, rolls back on error, wakes readers after commit.

        `serialize=False` is for transactions that never append events nor route (claiming outbox
        rows, heartbeats): they skip the PostgreSQL write lock, and may not append events.
        """
        token = _write_intent.set(True)
        # SQLite has one writer at a time anyway; queueing on an in-process lock instead of in
        # SQLite's busy handler (which sleeps and retries) keeps the latency tail short.
        local = self._sqlite_writer if self.dialect == "sqlite" else contextlib.nullcontext()
        try:
            bind = getattr(self._pinned, "conn", None) or self.engine
            if bind is self.engine and getattr(self._pinned, "wanted", False):
                bind = self._pinned.conn = self.engine.connect()
            with local, Session(bind, expire_on_commit=False) as session:
                try:
                    if serialize and self.is_postgres:
                        _begin_locked(session)
                        session.info[WRITE_LOCK_HELD] = session.get_transaction()
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
                wrote_events = session.info.pop(EVENTS_WRITTEN, False)
                wrote_outbox = session.info.pop(OUTBOX_WRITTEN, False)
        finally:
            _write_intent.reset(token)
        if wrote_events and self.on_events_committed is not None:
            self.on_events_committed()
        if wrote_outbox and self.on_outbox_committed is not None:
            self.on_outbox_committed()

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database without blocking writers or readers
        (PASSIVE), outside the in-process write lock. A no-op on PostgreSQL."""
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def dispose(self) -> None:
        self.engine.dispose()
