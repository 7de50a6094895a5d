"""Merging two contacts an agent says are one customer (suggested by hub.contacts.matches)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.contacts.models import Contact, ContactIdentity
from hub.contacts.opt_outs import do_merge_opt_outs
from hub.conversations.models import Conversation, Message
from hub.errors import Invalid, NotFound
from hub.events import log
from hub.events.models import Event
from hub.events.types import Merged


def do_merge(session: Session, source_id: int, into_id: int, *, actor_agent_id: int | None) -> Contact:
    """Move everything of contact `source_id` into `into_id`: identities, conversations, their
    messages and the timeline's events. The source stays, empty, with the merge on its timeline."""
    if source_id == into_id:
        raise Invalid("a contact cannot be merged into itself")
    source, into = session.get(Contact, source_id), session.get(Contact, into_id)
    if source is None or into is None:
        raise NotFound(f"contact {source_id if source is None else into_id} does not exist")
    identities = [{"kind": k, "address": a} for k, a in session.execute(
        select(col(ContactIdentity.kind), col(ContactIdentity.address))
        .where(col(ContactIdentity.contact_id) == source_id)).all()]
    conversations = list(session.execute(
        select(col(Conversation.id)).where(col(Conversation.contact_id) == source_id)).scalars())
    for table in (ContactIdentity, Conversation, Message, Event):
        session.execute(update(table).where(col(table.contact_id) == source_id).values(contact_id=into_id))
    now = utcnow()
    into.email = into.email or source.email
    into.phone = into.phone or source.phone
    do_merge_opt_outs(session, source_id, into_id)
    into.updated_at = source.updated_at = now
    source.email = source.phone = None
    session.flush()
    for on in (into_id, source_id):
        log.append(session, Merged(timeline=on, actor_agent_id=actor_agent_id, from_contact_id=source_id,
                                   into_contact_id=into_id, identities=identities, conversation_ids=conversations))
    return into
