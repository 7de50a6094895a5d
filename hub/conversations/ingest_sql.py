"""Ingest's hot path in plain SQL: a known customer writes again into a conversation that is open.

Nearly every inbound message is that case, and through the ORM it cost about 2 ms of CPU per
message (entity loading, flushes, statement building); through the driver's cursor it costs a
small fraction of that (bench/RESULTS.md). Everything else (a new contact or identity, a new or
reopened conversation, routing to run) goes through the ORM in hub.conversations.actions, and
this module must write exactly what that path writes: the same rows, the same event payload.
tests/hub/test_ingest_paths.py checks the two against each other on SQLite and PostgreSQL.

Statements run on the DB-API cursor of the session's own connection, inside the caller's write
transaction. They are written once with `?` parameters and translated for psycopg.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from hub import jsontext

_CONVERSATION_BY_ID = ("SELECT id, contact_id, status, assignee_id, queued_at, first_response_at, "
                       "next_response_due_at FROM conversations WHERE id = ?")
# One round trip per step for a whole batch (group commit), whatever its size; a single message is
# a batch of one. Each: the statement around {rows}, one row's placeholders, the separator.
# Parameters are positional (`?`, `%s` on psycopg): the statement's fixed ones first, then each
# row's in order. Building them as a flat list, not a dict of numbered names, was a visible share
# of the writer's CPU.
_MANY = {
    # Joined to a VALUES list, not `(a, b) IN (VALUES ...)`: SQLite answers the latter with a scan
    # of the whole table, the join with one unique-index lookup per row (both databases name the
    # VALUES columns column1, column2).
    "find_ingested": ("SELECT m.ingest_scope, m.external_id, m.id, m.conversation_id, m.contact_id "
                      "FROM (VALUES {rows}) v JOIN messages m "
                      "ON m.ingest_scope = v.column1 AND m.external_id = v.column2", "(?, ?)"),
    "identities": ("SELECT ci.kind, ci.address, ci.contact_id, c.name FROM (VALUES {rows}) v "
                   "JOIN contact_identities ci ON ci.kind = v.column1 AND ci.address = v.column2 "
                   "JOIN contacts c ON c.id = ci.contact_id", "(?, ?)"),
    "latest_conversations": ("SELECT id, contact_id, status, assignee_id, queued_at, first_response_at, "
                             "next_response_due_at, channel, source FROM conversations WHERE id IN "
                             "(SELECT MAX(id) FROM conversations WHERE contact_id IN ({rows}) "
                             "GROUP BY contact_id, channel, source)", "?"),
    "touch_conversations": ("UPDATE conversations SET last_message_at = ?, updated_at = ? "
                            "WHERE id IN ({rows})", "?"),
    "insert_messages": ("INSERT INTO messages (conversation_id, contact_id, channel, direction, text, html, "
                        "subject, attachments, ingest_scope, external_id, created_at) VALUES {rows} "
                        "RETURNING id, ingest_scope, external_id", "(?, ?, ?, 'in', ?, ?, ?, ?, ?, ?, ?)"),
    "insert_events": ("INSERT INTO events (type, conversation_id, contact_id, private, payload, created_at) "
                      "VALUES {rows}", "(?, ?, ?, ?, ?, ?)"),
}
_CURSOR = "hub_ingest_cursor"


@lru_cache(maxsize=1024)
def _statement(name: str, count: int, sqlite: bool) -> str:
    template, row = _MANY[name]
    sql = template.format(rows=", ".join([row] * count))
    return sql if sqlite else _for_psycopg(sql)


def _for_psycopg(sql: str) -> str:
    return sql.replace("?", "%s")


@dataclass(frozen=True)
class ConversationRow:
    id: int
    contact_id: int
    status: str
    assignee_id: int | None
    queued: bool
    first_response_at: object | None
    next_response_due_at: object | None


class IngestSql:
    """The session's cursor with the hot-path statements for its dialect."""

    def __init__(self, cursor: Any, dialect: str, dbapi: Any) -> None:
        self.cursor = cursor
        self.dbapi = dbapi
        self.sqlite = dialect == "sqlite"
        self._conversation_by_id = _CONVERSATION_BY_ID if self.sqlite else _for_psycopg(_CONVERSATION_BY_ID)
        self._when: tuple[datetime | None, Any] = (None, None)

    @classmethod
    def of(cls, session: Session) -> IngestSql:
        """One per transaction (cached on the session; Database.write opens a session per transaction)."""
        cached = session.info.get(_CURSOR)
        if cached is None:
            conn = session.connection()
            driver = conn.connection.driver_connection
            assert driver is not None
            cached = session.info[_CURSOR] = cls(driver.cursor(), conn.dialect.name, conn.dialect.dbapi)
        return cached  # type: ignore[no-any-return]

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

    def _execute(self, sql: str, params: Any) -> None:
        try:
            self.cursor.execute(sql, params)
        except self.dbapi.Error as exc:
            # As SQLAlchemy would raise it (IntegrityError, DataError, ...): callers and the API's
            # error handlers know those.
            raise DBAPIError.instance(sql, params, exc, self.dbapi.Error) from exc

    def _many(self, name: str, count: int, params: list[Any]) -> list[Any]:
        """Run the batched statement `name` for `count` rows with these positional parameters."""
        if not count:
            return []  # `IN ()` is a syntax error on PostgreSQL
        self._execute(_statement(name, count, self.sqlite), params)
        return self.cursor.fetchall() if self.cursor.description is not None else []

    def find_ingested_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int, int]]:
        rows = self._many("find_ingested", len(keys), [v for key in keys for v in key])
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}

    def identities_many(self, idents: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
        rows = self._many("identities", len(idents), [v for ident in idents for v in ident])
        return {(kind, address): (contact_id, name) for kind, address, contact_id, name in rows}

    def latest_conversations(self, contact_ids: list[int]) -> dict[tuple[int, str, str], ConversationRow]:
        """The latest conversation of each (contact, channel, source) of these contacts."""
        rows = self._many("latest_conversations", len(contact_ids), contact_ids)
        return {(r[1], r[7], r[8]): self._conversation(r) for r in rows}

    def touch_conversations(self, conversation_ids: list[int], now: datetime) -> None:
        when = self.when(now)
        self._many("touch_conversations", len(conversation_ids), [when, when, *conversation_ids])

    def insert_messages(self, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
        """Rows as `insert_message`'s arguments; returns each new id by (scope, external_id)."""
        params: list[Any] = []
        for r in rows:
            params += (r["conversation_id"], r["contact_id"], r["channel"], r["text"], r["html"], r["subject"],
                       jsontext.dumps(r["attachments"]), r["scope"], r["external_id"], self.when(r["created_at"]))
        return {(scope, xid): int(id) for id, scope, xid in self._many("insert_messages", len(rows), params)}

    def insert_events(self, rows: list[dict[str, Any]]) -> None:
        """Rows as `insert_event`'s arguments; ids follow the order of `rows`."""
        params: list[Any] = []
        for r in rows:
            params += (r["type"], r["conversation_id"], r["contact_id"], r.get("private", False),
                       jsontext.dumps(r["payload"]), self.when(r["created_at"]))
        self._many("insert_events", len(rows), params)

    def _conversation(self, row: Any) -> ConversationRow:
        return ConversationRow(row[0], row[1], row[2], row[3], row[4] is not None, row[5], row[6])

    def conversation(self, conversation_id: int) -> ConversationRow | None:
        self._execute(self._conversation_by_id, (conversation_id,))
        row = self.cursor.fetchone()
        return None if row is None else self._conversation(row)
