"""Path 2: new customers' and first conversations' messages, routed first, then written whole.

A first conversation on a channel and entry point, of a new customer or of a known one whose
contact needs no change, when no thread key of the message names a conversation (its own keys are
recorded for the new one); and a new customer writing into the open conversation a strong thread
key names, when it needs no routing (a colleague answering in a customer's thread: a contact of
their own, the message, no conversation). Each new conversation is routed while it is only an
entity (routing gets the unwritten first message's text for keyword rules), in the order of the
messages; routing changes the entity and returns a `Decision` (its events, the agents it touched),
and its assignments are on the routing board's view at once, so the next one routed sees them.
Then the contacts and their identities, the conversations as routing left them, the messages, the
threads' last activity, every event in order and the touches are written in one statement, for one
message (`ingest_first`) or a batch's run of them (`write_new`, hub.ingest.entry). Through the ORM
that was about a dozen round trips per message under the write lock. Finally the entities are
attached to the session as if loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session

from hub.clock import utcnow
from hub.contacts.actions import mark_created, new_contact_row
from hub.conversations.message_rows import insert_messages
from hub.conversations.models import Conversation
from hub.conversations.schemas import conversation_dict
from hub.db import loaded_entity
from hub.events import log, writes
from hub.events.types import ConversationCreated, TypedEvent
from hub.ingest.keys import own_keys, record_part
from hub.ingest.known import TOUCH_CONVERSATIONS
from hub.ingest.lookup import ConversationRow, next_ids
from hub.ingest.rows import (
    CONVERSATIONS,
    IDENTITIES,
    conversation_row,
    identity_row,
    message_created,
    message_row,
)
from hub.plain_sql import PlainSql, insert_text, new_row, rows_text
from hub.ports import InboundMessage, IngestResult
from hub.routing.decision import Decision

if TYPE_CHECKING:
    from hub.ingest.routing_port import IngestRouting


@dataclass(frozen=True)
class NewItem:
    """A message `write_new` writes: a first conversation (`into` None) of a new customer
    (`contact_id` None) or of a known one; or a new customer's message into `into`, an open
    conversation its strong thread key names that needs no routing."""

    msg: InboundMessage
    idents: list[tuple[str, str]]
    contact_id: int | None
    into: ConversationRow | None = None


def ingest_first(session: Session, sql: PlainSql, msg: InboundMessage, idents: list[tuple[str, str]],
                 contact_id: int | None, message_id: int, drawn: tuple[int, int | None] | None, *,
                 route: IngestRouting | None) -> IngestResult:
    """One first conversation. `contact_id`: the known contact, None for a new one. `drawn`: the
    ids the lookup drew for it (PostgreSQL), if it did."""
    log.lock(session)
    conversation_id, new_contact_id = drawn or next_ids(sql, contact=contact_id is None)
    return write_new(session, sql, [NewItem(msg, idents, contact_id)], [message_id], [conversation_id],
                     [] if new_contact_id is None else [new_contact_id], route=route)[0]


def write_new(session: Session, sql: PlainSql, items: list[NewItem], message_ids: list[int],
              conversation_ids: list[int], contact_ids: list[int], *,
              route: IngestRouting | None) -> list[IngestResult]:
    """Write these messages, in order, with these fresh ids: one message id each, a conversation
    id each first conversation, a contact id each new customer (each in the items' order)."""
    log.lock(session)
    now = utcnow()
    new = _New(sql, now)
    fresh_conversations, fresh_contacts = iter(conversation_ids), iter(contact_ids)
    results: list[IngestResult] = []
    for item, message_id in zip(items, message_ids, strict=True):
        contact_id = item.contact_id
        if contact_id is None:
            contact_id = next(fresh_contacts)
            new.contact(session, contact_id, item, now)
        if item.into is None:
            conversation_id = next(fresh_conversations)
            new.conversation(session, item.msg, message_id, conversation_id, contact_id, route)
        else:
            conversation_id = item.into.id
            new.message(message_row(item.msg, message_id, conversation_id, contact_id, now))
            new.touched.append(conversation_id)
        for key in own_keys(item.msg, conversation_id):
            new.keys.setdefault(key[:2], key)
        results.append(IngestResult(message_id, conversation_id, contact_id, created=True))
    sql.together(new.parts())
    log.mark_appended(session)
    for conv in new.entities:
        # In the session as if just loaded: later work in this transaction finds it there.
        make_transient_to_detached(conv)
        session.add(conv)
    return results


class _New:
    """The rows and events of `write_new`, gathered in the messages' order."""

    def __init__(self, sql: PlainSql, now: datetime) -> None:
        self.sql, self.now = sql, now
        self.contacts: list[dict[str, Any]] = []
        self.identities: list[dict[str, Any]] = []
        self.conversations: list[dict[str, Any]] = []
        self.entities: list[Conversation] = []
        self.messages: list[dict[str, Any]] = []
        self.touched: list[int] = []  # conversations that exist, with a message now
        self.keys: dict[tuple[str, str], tuple[str, str, int]] = {}  # the first claim of a key keeps it
        self.events: list[TypedEvent] = []
        self.agents: dict[int, datetime] = {}  # agent id -> last assigned at, the last decision's

    def contact(self, session: Session, contact_id: int, item: NewItem, now: datetime) -> None:
        contact = {"id": contact_id, **new_contact_row(item.msg.contact, item.idents, now)}
        mark_created(session, contact_id, contact["tier"], contact["language"])
        self.contacts.append(contact)
        self.identities += [identity_row(contact_id, kind, address, now) for kind, address in item.idents]

    def message(self, row: dict[str, Any]) -> None:
        self.messages.append(row)
        self.events.append(message_created(row))

    def conversation(self, session: Session, msg: InboundMessage, message_id: int, conversation_id: int,
                     contact_id: int, route: IngestRouting | None) -> None:
        now = self.now
        conv = loaded_entity(Conversation, new_row(
            CONVERSATIONS, id=conversation_id, contact_id=contact_id, channel=msg.channel, source=msg.source,
            subject=msg.subject, status="open", waiting_since=now, last_agent_id=None, last_message_at=now,
            created_at=now, updated_at=now,
        ))
        self.events.append(ConversationCreated(conversation_id=conversation_id, contact_id=contact_id,
                                               conversation=conversation_dict(conv)))
        self.message(message_row(msg, message_id, conversation_id, contact_id, now))
        # A new conversation always needs routing (hub.ingest.routing_port.needs_routing).
        decision = route.decide(session, conv, first_text=msg.text) if route is not None else Decision()
        self.events += decision.events
        self.agents.update(decision.touched)
        self.conversations.append(conversation_row(conv))
        self.entities.append(conv)

    def parts(self) -> list[tuple[str, list[Any]]]:
        sql = self.sql
        parts: list[tuple[str, list[Any]]] = []
        for table, rows in (("contacts", self.contacts), (IDENTITIES.name, self.identities),
                            (CONVERSATIONS.name, self.conversations)):
            if rows:
                parts.append((insert_text(table, tuple(rows[0]), len(rows)), [v for r in rows for v in sql.values(r)]))
        parts.append(insert_messages(sql, self.messages))
        if self.touched:
            when = sql.when(self.now)
            touched = sorted(set(self.touched))
            parts.append((rows_text(TOUCH_CONVERSATIONS, "?", len(touched)), [when, when, *touched]))
        if self.keys:
            parts.append(record_part(sql, list(self.keys.values()), self.now))
        # One touch per agent (two updates of one row in one PostgreSQL statement: only one is made).
        parts += Decision(touched=self.agents).touch_parts(sql)
        parts.append(writes.part(sql, self.events, self.now))
        return parts
