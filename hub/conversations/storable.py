"""Whether an inbound message can be stored as it is, checked before the writer takes it.

PostgreSQL refuses a NUL character in text and a value longer than its column; SQLite stores
both. Checking here, against the tables' own column lengths, makes both databases refuse the same
messages with the same words, whatever the channel, and before the shared write transaction
(where a refused value would fail the whole batch and cost everyone a rerun). Channels still
check their own fields at their edge, with their own words; this is the last line.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Column

from hub.attachments.actions import own_attachment
from hub.attachments.models import StoredAttachment
from hub.channel_cursors import ChannelCursor
from hub.contacts.emails import valid_email
from hub.contacts.models import Contact, ContactIdentity
from hub.conversations.models import Conversation, Message
from hub.db import table_of
from hub.errors import Invalid
from hub.ports import NUL_REFUSED, InboundMessage, has_nul


def _length(column: Column[object]) -> int | None:
    return getattr(column.type, "length", None)


_SOURCE = _length(table_of(Conversation).c.source)
_SCOPE = _length(table_of(Message).c.ingest_scope)
_EXTERNAL_ID = _length(table_of(Message).c.external_id)
_SUBJECT = _length(table_of(Message).c.subject)
_NAME = _length(table_of(Contact).c.name)
_EMAIL = _length(table_of(Contact).c.email)
_PHONE = _length(table_of(Contact).c.phone)
_ADDRESS = _length(table_of(ContactIdentity).c.address)
_CURSOR_NAME = _length(table_of(ChannelCursor).c.name)
_CURSOR_VALUE = _length(table_of(ChannelCursor).c.value)
_FILE = table_of(StoredAttachment).c  # a kept file's row (`Attachment.kept`) is written by ingest
# An attachment's size is stored in JSON, which holds integers of 64 bits at most (orjson).
MAX_SIZE = 2**63 - 1


def _fields(msg: InboundMessage) -> Iterator[tuple[str, str | None, int | None]]:
    """(name, value, longest allowed or None) of every text of `msg` that is stored."""
    c = msg.contact
    yield from (("source", msg.source, _SOURCE), ("ingest_scope", msg.ingest_scope, _SCOPE),
                ("external_id", msg.external_id, _EXTERNAL_ID), ("subject", msg.subject, _SUBJECT),
                ("text", msg.text, None), ("html", msg.html, None), ("contact.name", c.name, _NAME),
                ("contact.email", c.email, _EMAIL), ("contact.phone", c.phone, _PHONE),
                ("contact.external_ref", c.external_ref, _ADDRESS))
    if msg.cursor is not None:
        yield from (("cursor.name", msg.cursor.name, _CURSOR_NAME), ("cursor.value", msg.cursor.value, _CURSOR_VALUE))
    for field in ("thread_keys", "weak_thread_keys", "own_thread_keys"):
        # No length: a key too long to store is ignored (hub.conversations.threads), not refused.
        yield from ((f"{field}.{i}", key, None) for i, key in enumerate(getattr(msg, field)))
    for i, a in enumerate(msg.attachments):
        row = a.kept is not None
        yield from ((f"attachments.{i}.url", a.url, None),
                    (f"attachments.{i}.content_type", a.content_type, _length(_FILE.content_type) if row else None),
                    (f"attachments.{i}.filename", a.filename, _length(_FILE.filename) if row else None),
                    (f"attachments.{i}.cid", a.cid, _length(_FILE.cid) if row else None),
                    (f"attachments.{i}.kept", a.kept, _length(_FILE.blob_key)))


def check_storable(msg: InboundMessage) -> None:
    """Raises Invalid, naming the field, for a NUL character or a text longer than its column, an
    email address that is not one, an attachment URL that is not http(s) (`javascript:`...) nor a
    file the hub stored, or an
    attachment size that is negative or beyond 64 bits."""
    for name, value, longest in _fields(msg):
        if value is None:
            continue
        if has_nul(value):
            raise Invalid(f"{name}: {NUL_REFUSED}")
        if longest is not None and len(value) > longest:
            raise Invalid(f"{name}: must be at most {longest} characters")
    if msg.contact.email is not None:
        try:
            valid_email(msg.contact.email)
        except Invalid as exc:
            raise Invalid(f"contact.email: {exc.message}") from exc
    for i, a in enumerate(msg.attachments):
        if a.url is not None and not web_url(a.url) and not own_attachment(a):
            raise Invalid(f"attachments.{i}.url: must be an http or https URL")
        if a.size is not None and not 0 <= a.size <= MAX_SIZE:
            raise Invalid(f"attachments.{i}.size: must be a number of bytes from 0 to {MAX_SIZE}")


def web_url(url: str) -> bool:
    """An http(s) URL: the only kind a console may link (no `javascript:`, `data:`, `file:`)."""
    scheme, sep, rest = url.partition("://")
    return bool(sep) and scheme.lower() in ("http", "https") and bool(rest.strip())
