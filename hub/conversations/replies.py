"""An agent's reply, in plain SQL: what it needs to know in one statement, what it writes in another.

The reply (its message, its outbox row, the conversation's clocks and its `message.created` event)
is written as ingest writes a customer's message (hub.plain_sql; on PostgreSQL the writes are one
statement of data-modifying CTEs), and what it reads first (a first copy under the console's client
id, an opt-out, the agent's name, the customer's last message to quote, the new message's id, and
the conversation itself for the caller's access check) is one statement too. Through the ORM a
reply took nine statements and ~3 ms of the writer's time on PostgreSQL, every statement a round
trip inside the single write lock, while customers' messages queued behind it (bench/RESULTS.md,
"Issue 17, session 10").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from hub.attachments.actions import as_port, do_link
from hub.attachments.models import StoredAttachment
from hub.clock import utcnow
from hub.contacts.opt_outs import OPTED_OUT
from hub.conversations.message_rows import MESSAGES, insert_messages
from hub.conversations.models import Conversation, Message
from hub.conversations.schemas import message_row_dict
from hub.db import table_of
from hub.errors import Conflict, Invalid, NotFound
from hub.events import log, writes
from hub.events.types import MessageCreated
from hub.outbox.actions import enqueue_part
from hub.plain_sql import PlainSql, new_row, read_row, read_when, update_text

CONVERSATIONS = table_of(Conversation)
# Parameters: agent id (name); agent id, client id (first copy); conversation id. The opt-out and the
# customer's last message are the conversation's.
_CONTEXT = (
    "SELECT f.id, EXISTS (SELECT 1 FROM contact_opt_outs WHERE contact_id = c.contact_id AND channel = c.channel), "
    "(SELECT name FROM agents WHERE id = ?), q.created_at, q.text, qc.name, {next_id}, "
    + ", ".join(f"c.{column.name}" for column in CONVERSATIONS.columns)
    + " FROM conversations c "
    "LEFT JOIN messages f ON f.author_agent_id = ? AND f.client_id = ? "
    "LEFT JOIN messages q ON q.id = (SELECT MAX(id) FROM messages WHERE conversation_id = c.id AND direction = 'in') "
    "LEFT JOIN contacts qc ON qc.id = q.contact_id "
    "WHERE c.id = ?"
)
# The new message's id, drawn under the write lock (as ingest draws its own: hub.ingest.lookup).
_CONTEXT_BY_DIALECT = {
    True: _CONTEXT.format(next_id="(SELECT COALESCE(MAX(id), 0) + 1 FROM messages)"),
    False: _CONTEXT.format(next_id="nextval(pg_get_serial_sequence('messages', 'id'))"),
}
# The conversation's columns a reply sets.
_ANSWERED = ("first_response_at", "next_response_due_at", "last_agent_id", "updated_at")


@dataclass(frozen=True)
class ReplyContext:
    """What a reply needs to know before it writes (`reply_context`)."""

    conversation: Conversation
    first_copy_id: int | None  # what this agent already sent with the client id
    opted_out: bool
    agent_name: str | None
    quoted: dict[str, Any] | None  # the customer's latest message: {at, name, text}
    message_id: int  # the new message's id


def reply_context(session: Session, conversation_id: int, *, agent_id: int, client_id: str | None) -> ReplyContext:
    """One statement, under the write lock (it draws the new message's id); with the conversation,
    for the caller's access check (404 when there is none)."""
    sql = PlainSql.of(session)
    sql.execute(_CONTEXT_BY_DIALECT[sql.sqlite], (agent_id, agent_id, client_id, conversation_id))
    found = sql.fetchone()
    if found is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    first_id, opted_out, agent_name, at, quoted_text, name, message_id, *conversation = found
    quoted = None if at is None else {"at": read_when(at).isoformat(), "name": name or "", "text": quoted_text}
    return ReplyContext(_loaded(session, conversation_id, conversation), first_id, bool(opted_out), agent_name,
                        quoted, int(message_id))


def _loaded(session: Session, conversation_id: int, values: list[Any]) -> Conversation:
    """The session's own entity when it holds the conversation (with any changes it has not
    written yet); else one from the row read, in the session as if just loaded."""
    held = session.identity_map.get(identity_key(Conversation, conversation_id))
    if isinstance(held, Conversation):
        return held
    conv = Conversation(**read_row(CONVERSATIONS, values))
    make_transient_to_detached(conv)
    session.add(conv)
    return conv


def do_reply(
    session: Session, conv: Conversation, *, agent_id: int, text: str, html: str | None = None,
    client_id: str | None = None, attachments: Sequence[StoredAttachment] = (), cc: Sequence[str] = (),
    context: ReplyContext | None = None,
) -> Message:
    """An agent's answer: stored, logged, and put in the outbox in one transaction. `html` must be
    cleaned already (hub.conversations.sanitize, before the writer); it is stored as it is.
    `attachments`: the agent's uploads it carries (hub.attachments.actions.check_uploads). `cc`:
    valid addresses to copy (channels that have no copies ignore them). The outbox item tells the
    adapter the agent's name and the customer's last message (to quote). `context`: the
    `reply_context` the caller read already in this transaction."""
    if not text.strip():
        raise Invalid("a reply needs text", reason="empty", field="text")
    assert conv.id is not None
    ctx = context or reply_context(session, conv.id, agent_id=agent_id, client_id=client_id)
    if ctx.opted_out:
        raise Conflict(OPTED_OUT, reason="opted_out")
    if session.new or session.dirty or session.deleted:
        session.flush()  # the rows below refer to the conversation, as it is in the session
    sql = PlainSql.of(session)
    now = utcnow()
    row = new_row(
        MESSAGES, id=ctx.message_id, conversation_id=conv.id, contact_id=conv.contact_id, channel=conv.channel,
        direction="out", author_agent_id=agent_id, text=text, html=html, subject=conv.subject, client_id=client_id,
        delivery_status="pending", created_at=now, attachments=[as_port(a).as_dict() for a in attachments],
        metadata={"cc": list(cc)} if cc else {},
    )
    outbox_meta: dict[str, Any] = {"contact_id": conv.contact_id}
    if ctx.agent_name is not None:
        outbox_meta["agent_name"] = ctx.agent_name
    if ctx.quoted is not None:
        outbox_meta["quoted"] = ctx.quoted
    if cc:
        outbox_meta["cc"] = list(cc)
    payload = {
        "source": conv.source,  # the address `to` is the delivery worker's (hub.delivery.addressing)
        "metadata": outbox_meta, "text": text, "html": html, "subject": conv.subject,
        "attachments": row["attachments"],
    }
    # Answered: the next-response clock stops.
    answered = dict(zip(_ANSWERED, (conv.first_response_at or now, None, agent_id, now), strict=True))
    event = MessageCreated(conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=agent_id,
                           message=message_row_dict(row))
    log.lock(session)
    sql.together([
        insert_messages(sql, [row]),
        enqueue_part(session, sql, channel=conv.channel, payload=payload, message_id=ctx.message_id,
                     conversation_id=conv.id, now=now),
        (update_text("conversations", _ANSWERED), [*sql.values(answered), conv.id]),
        writes.part(sql, [event], now),
    ])
    log.mark_appended(session)
    for key, value in answered.items():
        set_committed_value(conv, key, value)  # the entity as the row now is
    message = _entity(session, row)
    do_link(session, attachments, ctx.message_id)
    return message


def _entity(session: Session, row: dict[str, Any]) -> Message:
    """The message written, in the session as if just loaded (later work in the transaction finds it)."""
    message = Message(**{("meta" if column == "metadata" else column): value for column, value in row.items()})
    make_transient_to_detached(message)
    session.add(message)
    return message
