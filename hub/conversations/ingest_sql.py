"""Ingest's hot path in plain SQL: a known customer writes again into a conversation that is open.

Nearly every inbound message is that case, and through the ORM it cost about 2 ms of CPU per
message (entity loading, flushes, statement building); through the driver's cursor it costs a
small fraction of that (bench/RESULTS.md). Everything else (a new contact or identity, a new or
reopened conversation, routing to run) goes through the ORM in hub.conversations.actions, and
this module must write exactly what that path writes: the same rows, the same event payload.
tests/hub/test_ingest_paths.py checks the two against each other on SQLite and PostgreSQL.

Statements run on the DB-API cursor of the session's own connection, inside the caller's write
transaction. They are written once with `?` parameters and translated for psycopg into numbered
`$n` ones, run on a `psycopg.RawCursor`: psycopg re-parses its own `%s` placeholders on every
execution of a statement longer than 4,096 bytes or with more than 50 parameters (its cache skips
those), and for a batch's hundreds of parameters that parsing cost more than the database's own
work (a batch of 30: the write 3.4 -> 1.7 ms, bench/RESULTS.md). So no statement text here may
hold a literal `%s` or `$n` of its own.

A batch is two steps, `lookup` then `write_known`. On SQLite each step is a few statements (they
cost no round trip). On PostgreSQL each is one statement: the lookups are subqueries of one
SELECT that answers in JSON, and the writes are data-modifying CTEs of one INSERT. Every round
trip there is paid inside the single write lock, so this doubled what one writer commits per
second (bench/RESULTS.md). That is why message ids are drawn before the write (`nextval` on
PostgreSQL, after the highest id under SQLite's write lock): the events that carry them are
written in the same statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from hub import jsontext

_CONVERSATION_BY_ID = ("SELECT id, contact_id, status, assignee_id, queued_at, first_response_at, "
                       "next_response_due_at FROM conversations WHERE id = ?")
# One round trip per step for a whole batch (group commit), whatever its size; a single message is
# a batch of one. Each: the statement around {rows}, one row's placeholders, the separator.
# Parameters are positional (`?`, `$n` on psycopg): the statement's fixed ones first, then each
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
    "insert_messages": ("INSERT INTO messages (id, conversation_id, contact_id, channel, direction, text, html, "
                        "subject, attachments, ingest_scope, external_id, created_at) VALUES {rows}",
                        "(?, ?, ?, ?, 'in', ?, ?, ?, ?, ?, ?, ?)"),
    "insert_events": ("INSERT INTO events (type, conversation_id, contact_id, private, payload, created_at) "
                      "VALUES {rows}", "(?, ?, ?, ?, ?, ?)"),
    # One event with its author, and its id back (`hub.events.log.append`).
    "append_event": ("INSERT INTO events (type, conversation_id, contact_id, actor_agent_id, private, payload, "
                     "created_at) VALUES {rows} RETURNING id", "(?, ?, ?, ?, ?, ?, ?)"),
}
_CURSOR = "hub_ingest_cursor"
_SQLITE_NEXT_MESSAGE_ID = "SELECT COALESCE(MAX(id), 0) + 1 FROM messages"
# A new conversation's id and, for a new customer, their contact's (`IngestSql.next_ids`): under
# the write lock, as message ids are drawn.
_NEXT_IDS = {
    (True, False): "SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM conversations), NULL",
    (True, True): "SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM conversations), "
                  "(SELECT COALESCE(MAX(id), 0) + 1 FROM contacts)",
    (False, False): "SELECT nextval(pg_get_serial_sequence('conversations', 'id')), NULL",
    (False, True): "SELECT nextval(pg_get_serial_sequence('conversations', 'id')), "
                   "nextval(pg_get_serial_sequence('contacts', 'id'))",
}
_TOUCH_AGENT = "UPDATE agents SET last_assigned_at = ? WHERE id = ?"
# The most board rows a lookup returns (hub.routing.board reads everything again past MAX_EVENTS).
BOARD_ROWS_LIMIT = 2_001
# PostgreSQL: every lookup of a batch in one statement, each answered as a JSON array of rows (so
# one result row carries results of different shapes). Its parameters: the (scope, external id)
# pairs, the (kind, address) pairs, the number of message ids to draw.
_PG_LOOKUP = (
    "WITH k(s, x) AS (VALUES {keys}), i(k, a) AS (VALUES {idents}), "
    "idents AS (SELECT ci.kind, ci.address, ci.contact_id, c.name FROM i "
    "JOIN contact_identities ci ON ci.kind = i.k AND ci.address = i.a JOIN contacts c ON c.id = ci.contact_id), "
    # Whether the message may start a conversation (asked for, and no known contact has one on
    # this channel and entry point): then the last two columns are filled.
    "fresh AS (SELECT %s::boolean AND NOT EXISTS (SELECT 1 FROM conversations WHERE contact_id IN "
    "(SELECT contact_id FROM idents) AND channel = %s AND source = %s) AS yes) "
    "SELECT (SELECT json_agg(json_build_array(m.ingest_scope, m.external_id, m.id, m.conversation_id, "
    "m.contact_id)) FROM k JOIN messages m ON m.ingest_scope = k.s AND m.external_id = k.x)::text, "
    "(SELECT json_agg(json_build_array(kind, address, contact_id, name)) FROM idents)::text, "
    "(SELECT json_agg(json_build_array(id, contact_id, status, assignee_id, queued_at, first_response_at, "
    "next_response_due_at, channel, source)) FROM conversations WHERE id IN (SELECT MAX(id) FROM conversations "
    "WHERE contact_id IN (SELECT contact_id FROM idents) GROUP BY contact_id, channel, source))::text, "
    "(SELECT json_agg(nextval(pg_get_serial_sequence('messages', 'id'))) FROM generate_series(1, %s))::text, "
    # A first conversation's ids (`Lookup.new_ids`), drawn here rather than in a round trip of
    # their own: a conversation id, and a contact id if no identity is known.
    "(SELECT json_build_array(nextval(pg_get_serial_sequence('conversations', 'id')), CASE WHEN NOT EXISTS "
    "(SELECT 1 FROM idents) THEN nextval(pg_get_serial_sequence('contacts', 'id')) END) FROM fresh WHERE yes)::text, "
    # The routing board's refresh (`Lookup.board_rows`): the events after the given id, with their
    # conversations, as hub.routing.board reads them, for the route hook that follows.
    "(SELECT json_agg(json_build_array(e.id, e.type, e.conversation_id, CASE WHEN e.conversation_id IS NULL "
    "THEN e.payload END, c.id, c.status, c.assignee_id, c.offered_to_id, c.channel, a.last_assigned_at) "
    "ORDER BY e.id) FROM (SELECT id, type, conversation_id, payload FROM events WHERE (SELECT yes FROM fresh) "
    "AND id > %s::bigint ORDER BY id LIMIT %s) e LEFT JOIN conversations c ON c.id = e.conversation_id "
    "LEFT JOIN agents a ON a.id = COALESCE(c.assignee_id, c.offered_to_id))::text"
)


@lru_cache(maxsize=1024)
def _pg_lookup(keys: int, idents: int) -> str:
    # No identity to look up (every contact in the batch invalid): one that matches nothing.
    return _numbered(_PG_LOOKUP.format(keys=", ".join(["(%s, %s)"] * keys),
                                       idents=", ".join(["(%s, %s)"] * max(idents, 1))))


@lru_cache(maxsize=1024)
def _pg_write(messages: int, touched: int, events: int) -> str:
    """The messages, the conversations' activity and the events in one statement."""
    return _for_psycopg(
        f"WITH m AS ({_statement_text('insert_messages', messages)}), "
        f"t AS ({_statement_text('touch_conversations', touched)}) {_statement_text('insert_events', events)}"
    )


def _statement_text(name: str, count: int) -> str:
    template, row = _MANY[name]
    return template.format(rows=", ".join([row] * count))


@lru_cache(maxsize=1024)
def _statement(name: str, count: int, sqlite: bool) -> str:
    sql = _statement_text(name, count)
    return sql if sqlite else _for_psycopg(sql)


def _for_psycopg(sql: str) -> str:
    return _numbered(sql.replace("?", "%s"))


def _numbered(sql: str) -> str:
    """`%s` placeholders as PostgreSQL's own `$1`, `$2`, ... (for a RawCursor)."""
    parts = sql.split("%s")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))


_PG_TOUCH_AGENT = _for_psycopg(_TOUCH_AGENT)


@lru_cache(maxsize=256)
def _insert_text(table: str, columns: tuple[str, ...], rows: int) -> str:
    row = "(" + ", ".join(["?"] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * rows)}"


@lru_cache(maxsize=256)
def _update_text(table: str, columns: tuple[str, ...]) -> str:
    return f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"


@lru_cache(maxsize=256)
def _pg_together(statements: tuple[str, ...]) -> str:
    """Statements as one: all but the last as data-modifying CTEs of the last (PostgreSQL checks
    foreign keys at the end of the statement, so rows may refer to rows of an earlier part)."""
    *first, last = statements
    ctes = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(first))
    return _for_psycopg(f"WITH {ctes} {last}" if first else last)


@dataclass
class Pending:
    """Writes held back while a new conversation is routed (`IngestSql.deferring`), to go into the
    database with its rows in one statement (`IngestSql.write_new`)."""

    events: list[dict[str, Any]] = field(default_factory=list)  # in append order
    touches: dict[int, datetime] = field(default_factory=dict)  # agent id -> last_assigned_at


@dataclass
class Lookup:
    """What a batch needs to know before writing (`IngestSql.lookup`)."""

    stored: dict[tuple[str, str], tuple[int, int, int]]  # (scope, external id) -> message, conversation, contact
    known: dict[tuple[str, str], tuple[int, str]]  # (kind, address) -> contact id, contact name
    # the latest conversation of each (contact, channel, source) of the known contacts
    conversations: dict[tuple[int, str, str], ConversationRow]
    message_ids: list[int]  # fresh ids, in order, for the messages this batch writes
    # PostgreSQL, when asked (`first_conversation`): a fresh conversation id and, for a new
    # customer, contact id; None when not drawn (`IngestSql.next_ids` draws them then)
    new_ids: tuple[int, int | None] | None = None
    # PostgreSQL, with `new_ids`, when asked (`board_after`): the routing board's refresh rows
    # (hub.routing.board.View.apply)
    board_rows: list[list[Any]] | None = None


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
        self.pending: Pending | None = None
        # How many times this transaction wrote events (every event is written through here): the
        # routing board reads the log again only when this moved (hub.routing.board.View.refresh).
        self.event_writes = 0

    @classmethod
    def of(cls, session: Session) -> IngestSql:
        """One per transaction (cached on the session; Database.write opens a session per transaction)."""
        cached = session.info.get(_CURSOR)
        if cached is None:
            conn = session.connection()
            driver = conn.connection.driver_connection
            assert driver is not None
            cursor = driver.cursor() if conn.dialect.name == "sqlite" else psycopg.RawCursor(driver)
            cached = session.info[_CURSOR] = cls(cursor, conn.dialect.name, conn.dialect.dbapi)
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

    def lookup(self, keys: list[tuple[str, str]], idents: list[tuple[str, str]], id_count: int,
               first_conversation: tuple[str, str] | None = None, board_after: int | None = None) -> Lookup:
        """Messages already stored under these keys, these identities' contacts, those contacts'
        latest conversations, and `id_count` message ids. Runs under the write lock.
        `first_conversation`: (channel, source) of a message that may start a conversation, for
        `Lookup.new_ids` and, from event id `board_after` on, `Lookup.board_rows` (PostgreSQL)."""
        if not self.sqlite:
            return self._pg_lookup(keys, idents, id_count, first_conversation, board_after)
        found = self._many("find_ingested", len(keys), [v for key in keys for v in key])
        identities = self._many("identities", len(idents), [v for ident in idents for v in ident])
        contacts = list({contact_id for _, _, contact_id, _ in identities})
        conversations = self._many("latest_conversations", len(contacts), contacts)
        self._execute(_SQLITE_NEXT_MESSAGE_ID, ())
        first = int(self.cursor.fetchone()[0])
        return self._lookup_of(found, identities, conversations, list(range(first, first + id_count)))

    def _pg_lookup(self, keys: list[tuple[str, str]], idents: list[tuple[str, str]], id_count: int,
                   first_conversation: tuple[str, str] | None, board_after: int | None) -> Lookup:
        params: list[Any] = [v for key in keys for v in key]
        params += [v for ident in idents for v in ident] if idents else ["", ""]
        params += (first_conversation is not None, *(first_conversation or ("", "")), id_count,
                   board_after, BOARD_ROWS_LIMIT)
        self._execute(_pg_lookup(len(keys), len(idents)), params)
        found, identities, conversations, ids, new_ids, board = (
            jsontext.loads(col) if col else [] for col in self.cursor.fetchone())
        look = self._lookup_of(found, identities, conversations, sorted(ids))
        if new_ids:
            look.new_ids = (int(new_ids[0]), None if new_ids[1] is None else int(new_ids[1]))
            if board_after is not None:
                look.board_rows = board
        return look

    def _lookup_of(self, found: Any, identities: Any, conversations: Any, ids: list[int]) -> Lookup:
        """Rows as both dialects' lookups return them (the find_ingested, identities and
        latest_conversations columns), shaped for the caller."""
        return Lookup(
            {(r[0], r[1]): (r[2], r[3], r[4]) for r in found},
            {(kind, address): (contact_id, name) for kind, address, contact_id, name in identities},
            {(r[1], r[7], r[8]): self._conversation(r) for r in conversations},
            ids,
        )

    def write_known(self, messages: list[dict[str, Any]], conversation_ids: list[int], now: datetime,
                    events: list[dict[str, Any]]) -> None:
        """Insert the messages (each with its `id` from `lookup`), set these conversations' last
        activity to `now`, and append the events (their ids follow the order of `events`)."""
        assert self.pending is None, "held-back writes would come after this one"
        message_params = self._message_params(messages)
        self.event_writes += 1
        when = self.when(now)
        touch_params = [when, when, *conversation_ids]
        event_params = self._event_params(events)
        if self.sqlite:
            self._many("insert_messages", len(messages), message_params)
            self._many("touch_conversations", len(conversation_ids), touch_params)
            self._many("insert_events", len(events), event_params)
            return
        self._execute(_pg_write(len(messages), len(conversation_ids), len(events)),
                      message_params + touch_params + event_params)

    def _event_params(self, rows: list[dict[str, Any]]) -> list[Any]:
        params: list[Any] = []
        for r in rows:
            params += (r["type"], r["conversation_id"], r["contact_id"], r.get("private", False),
                       jsontext.dumps(r["payload"]), self.when(r["created_at"]))
        return params

    def append_event(self, type: str, conversation_id: int | None, contact_id: int | None,
                     actor_agent_id: int | None, private: bool, payload: dict[str, Any], created_at: datetime) -> int:
        """One event, its id returned; while `deferring`, held back instead (and 0 returned)."""
        event = {"type": type, "conversation_id": conversation_id, "contact_id": contact_id,
                 "actor_agent_id": actor_agent_id, "private": private, "payload": payload, "created_at": created_at}
        if self.pending is not None:
            self.pending.events.append(event)
            return 0
        return self._together([self._events([event])])[0]

    def touch_agent(self, agent_id: int, at: datetime) -> None:
        """Set an agent's `last_assigned_at` (held back while `deferring`)."""
        if self.pending is not None:
            self.pending.touches[agent_id] = at
            return
        self._execute(_TOUCH_AGENT if self.sqlite else _PG_TOUCH_AGENT, (self.when(at), agent_id))

    @contextmanager
    def deferring(self) -> Iterator[Pending]:
        """Hold back events and agents' touches (they refer to rows not written yet) until
        `write_new` writes them with those rows."""
        assert self.pending is None, "already deferring"
        self.pending = Pending()
        try:
            yield self.pending
        finally:
            self.pending = None

    def next_ids(self, *, contact: bool) -> tuple[int, int | None]:
        """A fresh conversation id and, if asked, a fresh contact id. Runs under the write lock."""
        self._execute(_NEXT_IDS[(self.sqlite, contact)], ())
        conversation_id, contact_id = self.cursor.fetchone()
        return int(conversation_id), None if contact_id is None else int(contact_id)

    def write_new(self, contact: dict[str, Any] | None, identities: list[tuple[str, str]],
                  conversation: dict[str, Any], message: dict[str, Any], pending: Pending) -> list[int]:
        """A new conversation (`conversation`: its columns, `id` included), with its new contact
        (`contact`, `id` included, and its identities; None: a known contact), its first message
        (as `write_known` takes them, `id` included), and what was held back while it was routed.
        One statement on PostgreSQL. Returns the events' ids."""
        parts: list[tuple[str, list[Any]]] = []
        if contact is not None:
            parts.append(self._insert("contacts", contact))
            now = self.when(contact["created_at"])
            parts.append((_insert_text("contact_identities", ("contact_id", "kind", "address", "created_at"),
                                       len(identities)),
                          [v for kind, address in identities for v in (contact["id"], kind, address, now)]))
        parts.append(self._insert("conversations", conversation))
        parts.append((_statement_text("insert_messages", 1), self._message_params([message])))
        for agent_id, at in pending.touches.items():
            parts.append((_TOUCH_AGENT, [self.when(at), agent_id]))
        parts.append(self._events(pending.events))
        return self._together(parts)

    def update_with_event(self, table: str, row_id: int, values: dict[str, Any], event: dict[str, Any]) -> int:
        """Set these columns of one row and append an event (keys as `Pending.events` holds them),
        in one statement on PostgreSQL. Returns the event's id."""
        assert self.pending is None, "held-back writes would come after this one"
        values_part = (_update_text(table, tuple(values)), [*self._values(values), row_id])
        return self._together([values_part, self._events([event])])[0]

    def _message_params(self, messages: list[dict[str, Any]]) -> list[Any]:
        """`insert_messages`' parameters for these rows (the keys `write_known` takes)."""
        params: list[Any] = []
        for r in messages:
            params += (r["id"], r["conversation_id"], r["contact_id"], r["channel"], r["text"], r["html"],
                       r["subject"], jsontext.dumps(r["attachments"]), r["scope"], r["external_id"],
                       self.when(r["created_at"]))
        return params

    def _events(self, events: list[dict[str, Any]]) -> tuple[str, list[Any]]:
        params: list[Any] = []
        for e in events:
            params += (e["type"], e["conversation_id"], e["contact_id"], e["actor_agent_id"], e["private"],
                       jsontext.dumps(e["payload"]), self.when(e["created_at"]))
        return _statement_text("append_event", len(events)), params

    def _together(self, parts: list[tuple[str, list[Any]]]) -> list[int]:
        """Run these statements in order, as one on PostgreSQL; the last one's ids, sorted (the
        last one writes events)."""
        self.event_writes += 1
        if self.sqlite:
            for sql, part_params in parts:
                self._execute(sql, part_params)
        else:
            self._execute(_pg_together(tuple(sql for sql, _ in parts)), [p for _, ps in parts for p in ps])
        return sorted(int(row[0]) for row in self.cursor.fetchall())

    def _insert(self, table: str, row: dict[str, Any]) -> tuple[str, list[Any]]:
        return _insert_text(table, tuple(row), 1), self._values(row)

    def _values(self, row: dict[str, Any]) -> list[Any]:
        """Column values as the columns hold them (datetimes as `when`, JSON values as text)."""
        return [self.when(v) if isinstance(v, datetime) else jsontext.dumps(v) if isinstance(v, dict | list) else v
                for v in row.values()]

    def insert_events(self, rows: list[dict[str, Any]]) -> None:
        """Append events (the ORM path's); ids follow the order of `rows`."""
        assert self.pending is None, "held-back writes would come after this one"
        self.event_writes += 1
        self._many("insert_events", len(rows), self._event_params(rows))

    def _conversation(self, row: Any) -> ConversationRow:
        return ConversationRow(row[0], row[1], row[2], row[3], row[4] is not None, row[5], row[6])

    def conversation(self, conversation_id: int) -> ConversationRow | None:
        self._execute(self._conversation_by_id, (conversation_id,))
        row = self.cursor.fetchone()
        return None if row is None else self._conversation(row)
