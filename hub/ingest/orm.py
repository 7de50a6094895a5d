"""Path 3, the ORM: everything else (a reopen, an identity to attach or hold apart, a name to fill
in, a conversation never routed, a thread key naming a conversation that is not open).

The conversation is an entity (routing works on it, and a reopen changes it); the contact, the
message and the events before routing's are written as the other paths write them (hub.ingest.rows,
hub.events.writes): nothing reads them back as entities, and through the ORM they cost a flush each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.contacts.actions import resolve_contact_id
from hub.conversations.message_rows import insert_messages
from hub.conversations.models import Conversation
from hub.conversations.schemas import conversation_dict
from hub.conversations.threads import find_threaded, record_keys
from hub.events import log, writes
from hub.events.types import ConversationCreated, StatusChanged, TypedEvent
from hub.ingest.routing_port import needs_routing
from hub.ingest.rows import message_created, message_row
from hub.plain_sql import PlainSql
from hub.ports import InboundMessage, IngestResult

if TYPE_CHECKING:
    from hub.ingest.routing_port import IngestRouting


def _find_open_conversation(
    session: Session, contact_id: int, msg: InboundMessage, reopen_window: timedelta
) -> Conversation | None:
    conv = session.execute(
        select(Conversation)
        .where(col(Conversation.contact_id) == contact_id, col(Conversation.channel) == msg.channel,
               col(Conversation.source) == msg.source)
        .order_by(col(Conversation.id).desc())
        .limit(1)
    ).scalars().first()
    if conv is None:
        return None
    if conv.status == "resolved" and (conv.resolved_at is None or utcnow() - conv.resolved_at > reopen_window):
        return None
    return conv


def ingest_orm(session: Session, sql: PlainSql, msg: InboundMessage, message_id: int, *,
               reopen_window: timedelta, route: IngestRouting | None,
               known: dict[tuple[str, str], int] | None = None, conversation_id: int | None = None) -> IngestResult:
    """`message_id`: drawn by the lookup; `known`: the sender's identities that exist;
    `conversation_id`: an id the lookup drew for a new conversation (PostgreSQL), if it did."""
    contact_id, new_contact = resolve_contact_id(session, msg.contact, ref_scope=msg.ingest_scope, known=known)
    now = utcnow()
    # A strong thread key names its conversation whoever writes; else a contact created just now
    # has no conversation yet.
    conv = find_threaded(session, msg, contact_id, reopen_window) if msg.threaded else None
    if conv is None and not new_contact:
        conv = _find_open_conversation(session, contact_id, msg, reopen_window)
    new_conversation = conv is None
    previous_status = None
    if conv is None and not msg.needs_answer:  # shown, never work: it starts resolved
        conv = Conversation(
            id=conversation_id, contact_id=contact_id, channel=msg.channel, source=msg.source,
            subject=msg.subject, status="resolved", resolved_at=now, last_agent_id=None, last_message_at=now,
            updated_at=now,
        )
        session.add(conv)
    elif conv is None:
        conv = Conversation(
            id=conversation_id, contact_id=contact_id, channel=msg.channel, source=msg.source,
            subject=msg.subject, status="open", waiting_since=now, last_agent_id=None, last_message_at=now,
            updated_at=now,
        )
        session.add(conv)
    elif not msg.needs_answer:  # joins its thread as it is: no reopen, no routing, no wait
        # last_message_at stays the customer's last message: the views' order and the wait an
        # inbox row shows count from it, and nobody waits for an answer to an out-of-office.
        conv.updated_at = now
    else:
        if conv.status != "open":
            previous_status = conv.status
            conv.status = "open"
            conv.snoozed_until = None
            conv.resolved_at = None
            if conv.assignee_id is None:
                conv.waiting_since = now
        conv.last_message_at = now
        conv.updated_at = now
    # The conversation (and a known contact's changes): the rows the plain SQL below refers to.
    session.flush()
    assert conv.id is not None
    record_keys(session, msg.channel, msg.own_thread_keys, conv.id)

    # Events in the order a console should see them: the conversation, its message, then routing's.
    log.lock(session)
    events: list[TypedEvent] = []
    if new_conversation:
        events.append(ConversationCreated(conversation_id=conv.id, contact_id=contact_id,
                                          conversation=conversation_dict(conv)))
    elif previous_status is not None:
        events.append(StatusChanged(conversation_id=conv.id, contact_id=contact_id, from_=previous_status, to="open",
                                    reason="customer_message", conversation=conversation_dict(conv)))
    row = message_row(msg, message_id, conv.id, contact_id, now)
    events.append(message_created(row))
    sql.together([insert_messages(sql, [row]), writes.part(sql, events, now)])
    log.mark_appended(session)
    if route is not None and msg.needs_answer and needs_routing(
        route, session, new=new_conversation, reopened=previous_status is not None, assignee_id=conv.assignee_id,
        queued=conv.queued_at is not None, first_response_at=conv.first_response_at,
        next_response_due_at=conv.next_response_due_at, team_id=conv.team_id, priority=conv.priority,
    ):
        route.on_routable(session, conv)
    # Flushed now, so that a plain-SQL ingest later in the same transaction (group commit) appends
    # its events after these.
    session.flush()
    return IngestResult(message_id, conv.id, contact_id, created=True)
