"""What a batch of inbound messages needs to know before anything is written, in one step.

Messages already stored under their keys, the senders' contacts, those contacts' latest
conversations, and fresh message ids. On SQLite that is a few statements (they cost no round
trip). On PostgreSQL it is ONE statement whose subqueries answer in JSON (so one row carries results
of different shapes): every round trip there is paid inside the single write lock. That is why ids
are drawn here (`nextval` on PostgreSQL, after the highest id under SQLite's write lock): the events
that carry them are written in the same statement as their rows. For a message that may start a
conversation, the PostgreSQL lookup also draws its conversation's (and a new contact's) id, and
carries the routing board's refresh (hub.routing.board.BoardPrefetch) for the routing that follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hub import jsontext
from hub.plain_sql import PlainSql, numbered, rows_text

if TYPE_CHECKING:
    from hub.routing.board import BoardPrefetch

CONVERSATION_FIELDS = ("id, contact_id, status, assignee_id, queued_at, first_response_at, "
                         "next_response_due_at, channel, source, team_id, priority")
# SQLite: each a statement around {rows} (one row's placeholders, repeated), parameters positional.
# Joined to a VALUES list, not `(a, b) IN (VALUES ...)`: SQLite answers the latter with a scan of
# the whole table, the join with one unique-index lookup per row (both databases name the VALUES
# columns column1, column2).
_FIND_STORED = ("SELECT m.ingest_scope, m.external_id, m.id, m.conversation_id, m.contact_id "
                "FROM (VALUES {rows}) v JOIN messages m ON m.ingest_scope = v.column1 AND m.external_id = v.column2")
_IDENTITIES = ("SELECT ci.kind, ci.address, ci.contact_id, c.name FROM (VALUES {rows}) v "
               "JOIN contact_identities ci ON ci.kind = v.column1 AND ci.address = v.column2 "
               "JOIN contacts c ON c.id = ci.contact_id")
_LATEST = (f"SELECT {CONVERSATION_FIELDS} FROM conversations WHERE id IN "
           "(SELECT MAX(id) FROM conversations WHERE contact_id IN ({rows}) GROUP BY contact_id, channel, source)")
_SQLITE_NEXT_MESSAGE_ID = "SELECT COALESCE(MAX(id), 0) + 1 FROM messages"
# A new conversation's id and, for a new customer, their contact's (`next_ids`).
_NEXT_IDS = {
    (True, False): "SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM conversations), NULL",
    (True, True): "SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM conversations), "
                  "(SELECT COALESCE(MAX(id), 0) + 1 FROM contacts)",
    (False, False): "SELECT nextval(pg_get_serial_sequence('conversations', 'id')), NULL",
    (False, True): "SELECT nextval(pg_get_serial_sequence('conversations', 'id')), "
                   "nextval(pg_get_serial_sequence('contacts', 'id'))",
}
# PostgreSQL: the lookups above as one statement. Its parameters: the (scope, external id) pairs,
# the (kind, address) pairs, whether a first conversation may start and its (channel, source), the
# number of message ids to draw, then the board's (`{board}`, when asked).
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
    f"(SELECT json_agg(json_build_array({CONVERSATION_FIELDS})) FROM conversations WHERE id IN "
    "(SELECT MAX(id) FROM conversations WHERE contact_id IN (SELECT contact_id FROM idents) "
    "GROUP BY contact_id, channel, source))::text, "
    "(SELECT json_agg(nextval(pg_get_serial_sequence('messages', 'id'))) FROM generate_series(1, %s))::text, "
    # A first conversation's ids (`Lookup.new_ids`), drawn here rather than in a round trip of
    # their own: a conversation id, and a contact id if no identity is known.
    "(SELECT json_build_array(nextval(pg_get_serial_sequence('conversations', 'id')), CASE WHEN NOT EXISTS "
    "(SELECT 1 FROM idents) THEN nextval(pg_get_serial_sequence('contacts', 'id')) END) FROM fresh WHERE yes)::text, "
    "{board}"
)


@lru_cache(maxsize=1024)
def _pg_lookup(keys: int, idents: int, board: str | None) -> str:
    # No identity to look up (every contact in the batch invalid): one that matches nothing.
    # The board's refresh only when a conversation may start (`fresh`), as JSON text.
    board_column = "NULL" if board is None else (
        f"(CASE WHEN (SELECT yes FROM fresh) THEN ({board.replace('?', '%s')}) END)::text")
    return numbered(_PG_LOOKUP.format(keys=", ".join(["(%s, %s)"] * keys),
                                      idents=", ".join(["(%s, %s)"] * max(idents, 1)), board=board_column))


@dataclass(frozen=True)
class ConversationRow:
    id: int
    contact_id: int
    status: str
    assignee_id: int | None
    queued: bool
    first_response_at: object | None
    next_response_due_at: object | None
    team_id: int | None  # with `priority`: whether a message restarts the next-response clock
    priority: int


def read_conversation(row: Any) -> ConversationRow:
    return ConversationRow(row[0], row[1], row[2], row[3], row[4] is not None, row[5], row[6], row[9], row[10])


@dataclass
class Lookup:
    """What a batch needs to know before writing (`lookup`)."""

    stored: dict[tuple[str, str], tuple[int, int, int]]  # (scope, external id) -> message, conversation, contact
    known: dict[tuple[str, str], tuple[int, str]]  # (kind, address) -> contact id, contact name
    # the latest conversation of each (contact, channel, source) of the known contacts
    conversations: dict[tuple[int, str, str], ConversationRow]
    message_ids: list[int]  # fresh ids, in order, for the messages this batch writes
    # PostgreSQL, when asked (`first_conversation`): a fresh conversation id and, for a new
    # customer, contact id; None when not drawn (`next_ids` draws them then)
    new_ids: tuple[int, int | None] | None = None


def _lookup_of(found: Any, identities: Any, conversations: Any, ids: list[int]) -> Lookup:
    return Lookup(
        {(r[0], r[1]): (r[2], r[3], r[4]) for r in found},
        {(kind, address): (contact_id, name) for kind, address, contact_id, name in identities},
        {(r[1], r[7], r[8]): read_conversation(r) for r in conversations},
        ids,
    )


def lookup(sql: PlainSql, keys: list[tuple[str, str]], idents: list[tuple[str, str]], id_count: int,
           first_conversation: tuple[str, str] | None = None, board: BoardPrefetch | None = None) -> Lookup:
    """Messages already stored under these keys, these identities' contacts, those contacts'
    latest conversations, and `id_count` message ids. Runs under the write lock.
    `first_conversation`: (channel, source) of a message that may start a conversation, for
    `Lookup.new_ids` and, if a conversation may start, the routing board's refresh handed to
    `board` (PostgreSQL)."""
    if not sql.sqlite:
        return _pg(sql, keys, idents, id_count, first_conversation, board)
    found = _many(sql, _FIND_STORED, "(?, ?)", len(keys), [v for key in keys for v in key])
    identities = _many(sql, _IDENTITIES, "(?, ?)", len(idents), [v for ident in idents for v in ident])
    contacts = list({contact_id for _, _, contact_id, _ in identities})
    conversations = _many(sql, _LATEST, "?", len(contacts), contacts)
    sql.execute_raw(_SQLITE_NEXT_MESSAGE_ID, ())
    first = int(sql.fetchone()[0])
    return _lookup_of(found, identities, conversations, list(range(first, first + id_count)))


def _many(sql: PlainSql, template: str, row: str, count: int, params: list[Any]) -> list[Any]:
    if not count:
        return []  # `IN ()` is a syntax error
    sql.execute_raw(rows_text(template, row, count), params)
    return sql.fetchall()


def _pg(sql: PlainSql, keys: list[tuple[str, str]], idents: list[tuple[str, str]], id_count: int,
        first_conversation: tuple[str, str] | None, board: BoardPrefetch | None) -> Lookup:
    params: list[Any] = [v for key in keys for v in key]
    params += [v for ident in idents for v in ident] if idents else ["", ""]
    params += (first_conversation is not None, *(first_conversation or ("", "")), id_count)
    if board is not None:
        params += board.params
    sql.execute_raw(_pg_lookup(len(keys), len(idents), board.sql if board is not None else None), params)
    found, identities, conversations, ids, new_ids, board_rows = sql.fetchone()
    found, identities, conversations = (jsontext.loads(c) if c else [] for c in (found, identities, conversations))
    look = _lookup_of(found, identities, conversations, sorted(jsontext.loads(ids)) if ids else [])
    if new_ids:
        drawn = jsontext.loads(new_ids)
        look.new_ids = (int(drawn[0]), None if drawn[1] is None else int(drawn[1]))
        if board is not None:
            board.arrived(jsontext.loads(board_rows) if board_rows else [])
    return look


def next_ids(sql: PlainSql, *, contact: bool) -> tuple[int, int | None]:
    """A fresh conversation id and, if asked, a fresh contact id. Runs under the write lock."""
    sql.execute_raw(_NEXT_IDS[(sql.sqlite, contact)], ())
    conversation_id, contact_id = sql.fetchone()
    return int(conversation_id), None if contact_id is None else int(contact_id)


# `draw_ids`: fresh message, conversation and contact ids, as many as asked of each.
_SQLITE_DRAW = ("SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM messages), "
                "(SELECT COALESCE(MAX(id), 0) + 1 FROM conversations), (SELECT COALESCE(MAX(id), 0) + 1 FROM contacts)")


@lru_cache(maxsize=4)
def _pg_draw(board: str | None) -> str:
    columns = [f"(SELECT json_agg(nextval(pg_get_serial_sequence('{table}', 'id'))) FROM generate_series(1, %s))::text"
               for table in ("messages", "conversations", "contacts")]
    refresh = "NULL" if board is None else f"({board.replace('?', '%s')})::text"
    return numbered("SELECT " + ", ".join([*columns, refresh]))


def draw_ids(sql: PlainSql, messages: int, conversations: int, contacts: int,
             board: BoardPrefetch | None = None) -> tuple[list[int], list[int], list[int]]:
    """Fresh ids for rows written next: `messages` message ids, `conversations` conversation ids,
    `contacts` contact ids, each list ascending. Runs under the write lock (on SQLite, the ids after
    the highest: nothing else may write those tables before these rows are). On PostgreSQL the
    same statement reads the routing board's refresh handed to `board`, for the routing that follows."""
    counts = (messages, conversations, contacts)
    if sql.sqlite:
        sql.execute_raw(_SQLITE_DRAW, ())
        drawn = [list(range(int(first), int(first) + n)) for first, n in zip(sql.fetchone(), counts, strict=True)]
        return drawn[0], drawn[1], drawn[2]
    sql.execute_raw(_pg_draw(board.sql if board is not None else None),
                    [*counts, *(board.params if board is not None else ())])
    *ids, board_rows = sql.fetchone()
    if board is not None:
        board.arrived(jsontext.loads(board_rows) if board_rows else [])
    drawn = [sorted(int(i) for i in jsontext.loads(found)) if found else [] for found in ids]
    return drawn[0], drawn[1], drawn[2]
