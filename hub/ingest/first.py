"""Path 2: a first conversation on a channel and entry point, routed first, then written whole.

Of a new customer, or of a known one whose contact needs no change, when no thread key of the
message names a conversation (its own keys are recorded for the new one). The conversation is routed
while it is only an entity (routing gets the unwritten first message's text for keyword rules);
routing changes the entity and returns a `Decision` (its events, the agents it touched). Then the
contact and its identities, the conversation as routing left it, the message, every event in order
and the touches are written in one statement. Through the ORM that was about a dozen round trips
under the write lock. Finally the entity is attached to the session as if loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session

from hub.clock import utcnow
from hub.contacts.actions import mark_created, new_contact_row
from hub.conversations.message_rows import insert_messages
from hub.conversations.models import Conversation
from hub.conversations.schemas import conversation_dict
from hub.events import log, writes
from hub.events.types import ConversationCreated, TypedEvent
from hub.ingest.keys import own_keys, record_part
from hub.ingest.lookup import next_ids
from hub.ingest.rows import (
    CONVERSATIONS,
    IDENTITIES,
    conversation_row,
    identity_row,
    message_created,
    message_row,
)
from hub.plain_sql import PlainSql, insert_text
from hub.ports import InboundMessage, IngestResult
from hub.routing.decision import Decision

if TYPE_CHECKING:
    from hub.ingest.routing_port import IngestRouting


def ingest_first(session: Session, sql: PlainSql, msg: InboundMessage, idents: list[tuple[str, str]],
                 contact_id: int | None, message_id: int, drawn: tuple[int, int | None] | None, *,
                 route: IngestRouting | None) -> IngestResult:
    """`contact_id`: the known contact, None for a new one. `drawn`: the ids the lookup drew for it
    (PostgreSQL), if it did."""
    log.lock(session)
    conversation_id, new_contact_id = drawn or next_ids(sql, contact=contact_id is None)
    now = utcnow()
    contact: dict[str, Any] | None = None
    if contact_id is None:
        assert new_contact_id is not None
        contact_id = new_contact_id
        contact = {"id": contact_id, **new_contact_row(msg.contact, idents, now)}
        mark_created(session, contact_id, contact["tier"], contact["language"])
    conv = Conversation(
        id=conversation_id, contact_id=contact_id, channel=msg.channel, source=msg.source, subject=msg.subject,
        status="open", waiting_since=now, last_agent_id=None, last_message_at=now, created_at=now, updated_at=now,
    )
    message = message_row(msg, message_id, conversation_id, contact_id, now)
    events: list[TypedEvent] = [
        ConversationCreated(conversation_id=conversation_id, contact_id=contact_id,
                            conversation=conversation_dict(conv)),
        message_created(message),
    ]
    # A new conversation always needs routing (hub.ingest.routing_port.needs_routing).
    decision = route.decide(session, conv, first_text=msg.text) if route is not None else Decision()

    parts: list[tuple[str, list[Any]]] = []
    if contact is not None:
        parts.append((insert_text("contacts", tuple(contact)), sql.values(contact)))
        identities = [identity_row(contact_id, kind, address, now) for kind, address in idents]
        parts.append((insert_text(IDENTITIES.name, tuple(identities[0]), len(identities)),
                      [v for r in identities for v in sql.values(r)]))
    row = conversation_row(conv)
    parts.append((insert_text(CONVERSATIONS.name, tuple(row)), sql.values(row)))
    parts.append(insert_messages(sql, [message]))
    if keys := own_keys(msg, conversation_id):
        parts.append(record_part(sql, keys, now))
    parts += decision.touch_parts(sql)
    parts.append(writes.part(sql, events + decision.events, now))
    sql.together(parts)
    log.mark_appended(session)
    # In the session as if just loaded: later work in this transaction finds it there.
    make_transient_to_detached(conv)
    session.add(conv)
    return IngestResult(message_id, conversation_id, contact_id, created=True)
