"""Plain SQL on the session's own DB-API cursor: the hot paths' statements (ingest, event writes).

Through the ORM an inbound message cost about 2 ms of CPU (entity loading, flushes, statement
building); through the driver's cursor a small fraction of that (bench/RESULTS.md). Statements run
inside the caller's write transaction. They are written once with `?` parameters and translated for
psycopg into numbered `$n` ones, run on a `psycopg.RawCursor`: psycopg re-parses its own `%s`
placeholders on every execution of a statement longer than 4,096 bytes or with more than 50
parameters (its cache skips those), and for a batch's hundreds of parameters that parsing cost more
than the database's own work (a batch of 30: the write 3.4 -> 1.7 ms, bench/RESULTS.md). So no
statement text given here may hold a literal `%s` or `$n` of its own.

Every round trip on PostgreSQL is paid inside the single write lock, so statements that belong
together go as one (`together`: data-modifying CTEs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import psycopg
from sqlalchemy import JSON
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from hub import jsontext
from hub.dbtypes import UTCDateTime

_CURSOR = "hub_plain_sql"


def for_psycopg(sql: str) -> str:
    return numbered(sql.replace("?", "%s"))


def numbered(sql: str) -> str:
    """`%s` placeholders as PostgreSQL's own `$1`, `$2`, ... (for a RawCursor)."""
    parts = sql.split("%s")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))


@lru_cache(maxsize=1024)
def rows_text(template: str, row: str, count: int) -> str:
    """`template` with `{rows}` as `count` copies of `row`, comma separated."""
    return template.format(rows=", ".join([row] * count))


@lru_cache(maxsize=256)
def insert_text(table: str, columns: tuple[str, ...], rows: int = 1) -> str:
    row = "(" + ", ".join(["?"] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * rows)}"


@lru_cache(maxsize=256)
def update_text(table: str, columns: tuple[str, ...]) -> str:
    return f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"


@lru_cache(maxsize=1024)
def _dialect_text(sql: str, sqlite: bool) -> str:
    return sql if sqlite else for_psycopg(sql)


@lru_cache(maxsize=256)
def _pg_together(statements: tuple[str, ...]) -> str:
    """Statements as one: all but the last as data-modifying CTEs of the last (PostgreSQL checks
    foreign keys at the end of the statement, so rows may refer to rows of an earlier part)."""
    *first, last = statements
    ctes = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(first))
    return for_psycopg(f"WITH {ctes} {last}" if first else last)


class PlainSql:
    """The session's cursor, one per transaction (`of`)."""

    def __init__(self, cursor: Any, dialect: str, dbapi: Any) -> None:
        self.cursor = cursor
        self.dbapi = dbapi
        self.sqlite = dialect == "sqlite"
        self._when: tuple[datetime | None, Any] = (None, None)
        # How many times this transaction wrote events (every event is written through
        # hub.events.writes, which counts here): the routing board reads the log again only when
        # this moved (hub.routing.board.View.refresh).
        self.event_writes = 0

    @classmethod
    def of(cls, session: Session) -> PlainSql:
        """One per transaction (cached on the session; Database.write opens a session per transaction)."""
        cached = session.info.get(_CURSOR)
        if cached is None:
            conn = session.connection()
            driver = conn.connection.driver_connection
            assert driver is not None
            cursor = driver.cursor() if conn.dialect.name == "sqlite" else psycopg.RawCursor(driver)
            cached = session.info[_CURSOR] = cls(cursor, conn.dialect.name, conn.dialect.dbapi)
        return cached

    def when(self, value: datetime | None) -> Any:
        """A UTC datetime as the column stores it (SQLite: SQLAlchemy's naive text with microseconds).
        A batch's rows mostly share one time: the last one converted is remembered."""
        if value is None or not self.sqlite:
            return value
        last, text = self._when
        if value is not last:
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            self._when = (value, text)
        return text

    def values(self, row: dict[str, Any]) -> list[Any]:
        """Column values as the columns hold them (datetimes as `when`, JSON values as text)."""
        return [self.when(v) if isinstance(v, datetime) else jsontext.dumps(v) if isinstance(v, dict | list) else v
                for v in row.values()]

    def execute(self, sql: str, params: Any) -> None:
        """Run `sql` (`?` placeholders) as it is on SQLite, translated once for psycopg."""
        self.execute_raw(_dialect_text(sql, self.sqlite), params)

    def execute_raw(self, sql: str, params: Any) -> None:
        """Run `sql` already in the dialect's placeholders."""
        try:
            self.cursor.execute(sql, params)
        except self.dbapi.Error as exc:
            # As SQLAlchemy would raise it (IntegrityError, DataError, ...): callers and the API's
            # error handlers know those.
            raise DBAPIError.instance(sql, params, exc, self.dbapi.Error) from exc

    def fetchall(self) -> list[Any]:
        return self.cursor.fetchall() if self.cursor.description is not None else []

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def together(self, parts: list[tuple[str, list[Any]]]) -> list[Any]:
        """Run these statements (`?` placeholders) in order, as one on PostgreSQL; the last one's rows."""
        if self.sqlite:
            for sql, part_params in parts:
                self.execute_raw(sql, part_params)
        else:
            self.execute_raw(_pg_together(tuple(sql for sql, _ in parts)), [p for _, ps in parts for p in ps])
        return self.fetchall()


@lru_cache(maxsize=64)
def _blank(table: Any) -> dict[str, Any]:
    return {c.name: c.default.arg if c.default is not None and c.default.is_scalar else None for c in table.columns}


def read_when(value: Any) -> datetime:
    """A datetime column's value as read in plain SQL, as an aware UTC datetime (SQLite hands back
    SQLAlchemy's naive-UTC text, psycopg an aware datetime)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


@lru_cache(maxsize=64)
def _read_as(table: Any) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """`table`'s column names, its datetime ones and its JSON ones."""
    names = tuple(c.name for c in table.columns)
    times = tuple(c.name for c in table.columns if isinstance(c.type, UTCDateTime))
    jsons = tuple(c.name for c in table.columns if isinstance(c.type, JSON))
    return names, times, jsons


def read_row(table: Any, values: Any) -> dict[str, Any]:
    """A row of `table` read in plain SQL (every column, in table order) as the ORM holds its
    values: times as aware UTC datetimes, JSON parsed (SQLite hands both back as text)."""
    names, times, jsons = _read_as(table)
    row = dict(zip(names, values, strict=True))
    for name in times:
        if row[name] is not None:
            row[name] = read_when(row[name])
    for name in jsons:
        if isinstance(row[name], str):
            row[name] = jsontext.loads(row[name])
    return row


def new_row(table: Any, **given: Any) -> dict[str, Any]:
    """A new row of `table` as a dict of every column the table defines (its SQLModel metadata), in
    table order: the values given, else the column's default (None if it has none). A name the table
    does not have is an error, so a row built here cannot drift from the table."""
    row = dict(_blank(table))
    unknown = given.keys() - row.keys()
    assert not unknown, f"{table.name} has no column {sorted(unknown)}"
    row.update(given)
    return row
