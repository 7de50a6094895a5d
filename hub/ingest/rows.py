"""The rows every ingest path writes, built in one place with the columns of the table definitions.

A message row is a dict of every column of `messages` (hub.plain_sql.new_row), and every path
writes it with the same INSERT (hub.conversations.message_rows), whose column list is the table's:
a column added to the model is written by all paths or by none. tests/ingest/test_paths.py
compares what the paths wrote, every column of every table they touch, on both databases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.contacts.models import ContactIdentity
from hub.conversations.message_rows import MESSAGES
from hub.conversations.models import Conversation
from hub.conversations.schemas import message_row_dict
from hub.db import table_of
from hub.events.types import MessageCreated
from hub.plain_sql import new_row
from hub.ports import InboundMessage

CONVERSATIONS = table_of(Conversation)
IDENTITIES = table_of(ContactIdentity)
CONVERSATION_COLUMNS = tuple(c.name for c in CONVERSATIONS.columns)


def message_row(msg: InboundMessage, message_id: int, conversation_id: int, contact_id: int,
                now: datetime) -> dict[str, Any]:
    """An inbound message's row, as every ingest path writes it (its html cleaned before the writer)."""
    return new_row(
        MESSAGES, id=message_id, conversation_id=conversation_id, contact_id=contact_id, channel=msg.channel,
        direction="in", text=msg.text, html=msg.html, subject=msg.subject,
        attachments=[a.as_dict() for a in msg.attachments], ingest_scope=msg.ingest_scope,
        external_id=msg.external_id, created_at=msg.received_at or now, metadata=msg.metadata,
        automatic=not msg.needs_answer,
    )


def message_created(row: dict[str, Any]) -> MessageCreated:
    """The `message.created` event consoles get for a `message_row`."""
    return MessageCreated(conversation_id=row["conversation_id"], contact_id=row["contact_id"],
                          message=message_row_dict(row))


def conversation_row(conv: Conversation) -> dict[str, Any]:
    """Every column of a conversation not written yet, as the entity holds it."""
    return {c: getattr(conv, c) for c in CONVERSATION_COLUMNS}


def identity_row(contact_id: int, kind: str, address: str, now: datetime) -> dict[str, Any]:
    """A new contact's identity (every column but the id the database draws)."""
    row = new_row(IDENTITIES, contact_id=contact_id, kind=kind, address=address, created_at=now)
    del row["id"]
    return row
