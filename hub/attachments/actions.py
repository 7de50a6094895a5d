"""Named reads and writes of stored attachments: keep a file's row, tie it to the message that
carries it, check an agent's uploads before a reply takes them."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import String
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from hub.attachments.models import StoredAttachment
from hub.attachments.sniff import OCTET_STREAM
from hub.clock import utcnow
from hub.db import table_of
from hub.errors import Invalid, NotFound
from hub.plain_sql import PlainSql, insert_text, new_row, rows_text
from hub.ports import Attachment, InboundMessage, IngestResult

# The agents' download route (agents_ui/api/attachments.py): a stored attachment's `url`.
URL_PREFIX = "/api/v1/attachments/"
_OWN_URL = re.compile(re.escape(URL_PREFIX) + r"([1-9][0-9]{0,17})")
MAX_PER_REPLY = 20
_TABLE = table_of(StoredAttachment)
_PG = postgresql.dialect()
_NEXT_ID = "SELECT COALESCE(MAX(id), 0) + 1 FROM attachments"
# Many files at once, each (attachment id, message id); both databases name VALUES' columns
# column1, column2 (and know UPDATE ... FROM).
_LINK = ("UPDATE attachments SET message_id = v.column2 FROM (VALUES {rows}) v "
         "WHERE attachments.id = v.column1 AND attachments.message_id IS NULL AND attachments.uploaded_by IS NULL")
_DROP = "DELETE FROM attachments WHERE id IN ({rows})"
# Values one statement carries at most: PostgreSQL's protocol takes 65535, SQLite as built by default
# 32766. A batch of the group commit (100 mails of up to 500 parts each) needs more: several statements.
MAX_PARAMS = 30_000


def _chunks(n: int, per_row: int) -> list[range]:
    """`range(n)` cut into consecutive pieces of rows whose values fit one statement."""
    size = MAX_PARAMS // per_row
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def attachment_url(attachment_id: int) -> str:
    return f"{URL_PREFIX}{attachment_id}"


def own_attachment(a: Attachment) -> bool:
    """Whether `a` is one the hub stored (its id and the URL of that id)."""
    return a.id is not None and a.url == attachment_url(a.id)


def id_of(ref: int | str) -> int:
    """An attachment named by its id or by its URL (as the upload answered it)."""
    if isinstance(ref, int):
        return ref
    if ref.isdigit() and len(ref) < 19:
        return int(ref)
    found = _OWN_URL.fullmatch(ref.strip())
    if found is None:
        raise Invalid(f"attachments: {ref[:200]!r} is neither an attachment id nor {URL_PREFIX}<id>")
    return int(found.group(1))


def as_port(row: StoredAttachment) -> Attachment:
    assert row.id is not None
    return Attachment(attachment_url(row.id), row.content_type, row.filename, row.size, row.cid, row.id)


def get_attachment(session: Session, attachment_id: int) -> StoredAttachment:
    row = session.get(StoredAttachment, attachment_id)
    if row is None:
        raise NotFound(f"attachment {attachment_id} does not exist")
    return row


def parts_of(session: Session, message_id: int, cids: Iterable[str]) -> list[StoredAttachment]:
    """The files a message carries under these Content-IDs (its inline pictures)."""
    wanted = list(cids)
    if not wanted:
        return []
    return list(session.execute(select(StoredAttachment).where(
        StoredAttachment.message_id == message_id, col(StoredAttachment.cid).in_(wanted))).scalars())


def do_add(session: Session, *, blob_key: str, content_type: str, filename: str, size: int,
           cid: str | None = None, uploaded_by: int | None = None) -> Attachment:
    """A kept file's row (its bytes already in the store), not yet carried by any message."""
    row = StoredAttachment(blob_key=blob_key, content_type=content_type, filename=filename, size=size,
                           cid=cid, uploaded_by=uploaded_by)
    session.add(row)
    session.flush()
    return as_port(row)


def do_add_kept(session: Session, msgs: list[InboundMessage]) -> tuple[list[InboundMessage], set[int]]:
    """The rows of the files the channel kept for these messages (`Attachment.kept`, no row yet),
    in one statement (several for more values than one carries: `MAX_PARAMS`); returns the
    messages carrying their ids and URLs instead, and the new ids."""
    kept = [a for m in msgs for a in m.attachments if a.kept is not None and a.id is None]
    if not kept:
        return msgs, set()
    now = utcnow()
    rows = [_kept_row(a, now) for a in kept]
    ids = _insert_kept(PlainSql.of(session), rows)
    given = iter(ids)
    out = [m if not any(a.kept is not None and a.id is None for a in m.attachments) else replace(m, attachments=tuple(
        _with_id(a, next(given)) if a.kept is not None and a.id is None else a for a in m.attachments)) for m in msgs]
    return out, set(ids)


def _kept_row(a: Attachment, now: datetime) -> dict[str, Any]:
    """A kept file's row: every column of the table but the id."""
    row = new_row(_TABLE, blob_key=a.kept, content_type=a.content_type or OCTET_STREAM,
                  filename=a.filename or "attachment", size=a.size or 0, cid=a.cid, created_at=now)
    del row["id"]
    return row


def _insert_kept(sql: PlainSql, rows: list[dict[str, Any]]) -> list[int]:
    """Insert these rows in plain SQL (hub.plain_sql; through SQLAlchemy's Core, SQLite took a
    statement per row); their ids, in the rows' order. SQLite: the ids after the highest, drawn
    under the write lock, as hub.ingest.lookup draws messages' ids. PostgreSQL: an INSERT (one per
    `MAX_PARAMS` values, in order) whose rows are sorted by their position before the sequence
    numbers them, then its ids sorted, as SQLAlchemy's own ordered RETURNING does."""
    columns = tuple(rows[0])
    pieces = _chunks(len(rows), len(columns) + 1)  # pieces in order: their ids follow one another
    if sql.sqlite:
        sql.execute_raw(_NEXT_ID, ())
        first = int(sql.fetchone()[0])
        ids = list(range(first, first + len(rows)))
        for piece in pieces:
            sql.execute_raw(insert_text(_TABLE.name, ("id", *columns), len(piece)),
                            [v for n in piece for v in (ids[n], *sql.values(rows[n]))])
        return ids
    got: list[int] = []
    for piece in pieces:
        sql.execute(_pg_insert_ordered(columns, len(piece)), [v for n in piece for v in (*sql.values(rows[n]), n)])
        got += sorted(int(r[0]) for r in sql.fetchall())
    return got


@lru_cache(maxsize=64)
def _pg_insert_ordered(columns: tuple[str, ...], count: int) -> str:
    # Typed as the columns (a VALUES column of NULLs alone is text), strings without their length:
    # one too long is refused by the INSERT, as before, not cut by the cast.
    names = [f"p{n}" for n in range(len(columns))]
    types = ["VARCHAR" if isinstance(getattr(_TABLE.c[c].type, "impl_instance", _TABLE.c[c].type), String)
             else _TABLE.c[c].type.compile(dialect=_PG) for c in columns]
    casts = ", ".join(f"CAST({p} AS {t})" for p, t in zip(names, types, strict=True))
    row = "(" + ", ".join(["?"] * (len(columns) + 1)) + ")"
    return (f"INSERT INTO {_TABLE.name} ({', '.join(columns)}) SELECT {casts} FROM (VALUES {', '.join([row] * count)}) "
            f"AS v({', '.join(names)}, position) ORDER BY position RETURNING id")


def _with_id(a: Attachment, attachment_id: int) -> Attachment:
    return Attachment(attachment_url(attachment_id), a.content_type or OCTET_STREAM, a.filename or "attachment",
                      a.size or 0, a.cid, attachment_id)


def do_link_inbound(session: Session, ingested: Iterable[tuple[InboundMessage, IngestResult | Exception]],
                    fresh: Collection[int] = ()) -> None:
    """Tie the files a channel stored to the customer message just written with them (in its
    transaction). Only files no message carries yet and no agent uploaded: a message naming
    someone else's attachment id gains no access to it. A redelivery links nothing (its first copy
    did); rows written for it in this transaction (`fresh`, by `do_add_kept`) are dropped again.
    A file named by two messages goes to the first."""
    links: dict[int, int] = {}
    dropped: list[int] = []
    for msg, result in ingested:
        ids = [a.id for a in msg.attachments if a.id is not None]
        if isinstance(result, IngestResult) and result.created:
            for i in ids:
                links.setdefault(i, result.message_id)
        else:
            dropped.extend(i for i in ids if i in fresh)
    if not links and not dropped:
        return
    sql = PlainSql.of(session)
    pairs = list(links.items())
    for piece in _chunks(len(pairs), 2):
        sql.execute(rows_text(_LINK, "(?, ?)", len(piece)), [v for n in piece for v in pairs[n]])
    for piece in _chunks(len(dropped), 1):
        sql.execute(rows_text(_DROP, "?", len(piece)), [dropped[n] for n in piece])


def check_uploads(session: Session, agent_id: int, refs: Sequence[int | str]) -> list[StoredAttachment]:
    """The files an agent's reply may carry: their own uploads, not sent with another message."""
    ids = list(dict.fromkeys(id_of(r) for r in refs))
    if len(ids) > MAX_PER_REPLY:
        raise Invalid(f"a reply carries at most {MAX_PER_REPLY} attachments")
    if not ids:
        return []
    rows = {r.id: r for r in session.execute(
        select(StoredAttachment).where(col(StoredAttachment.id).in_(ids))).scalars()}
    for i in ids:
        row = rows.get(i)
        if row is None or row.uploaded_by != agent_id:
            raise Invalid(f"attachment {i} is not a file you uploaded")
        if row.message_id is not None:
            raise Invalid(f"attachment {i} was sent with another message already: upload it again")
    return [rows[i] for i in ids]


def do_link(session: Session, rows: Sequence[StoredAttachment], message_id: int) -> None:
    for row in rows:
        row.message_id = message_id
