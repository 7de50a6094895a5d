"""Addresses that may belong to a known customer: held apart, suggested to agents, merged on their word.

A message that arrives with a known customer's address and a new one does not prove that the new
one is theirs (anyone can type a customer's email into a form next to their own phone number).
Unless the channel proves both (`ContactRef.verified`), the new address becomes a contact of its
own and a `contact.match_suggested` event on both timelines says which customer it came with. An
agent who agrees merges them (`do_merge`): identities, conversations, messages and the timeline move
into the other contact, with a `contact.merged` event on both timelines.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.contacts.models import Contact, ContactIdentity
from hub.contacts.opt_outs import do_merge_opt_outs
from hub.conversations.models import Conversation, Message
from hub.errors import Invalid, NotFound
from hub.events import log
from hub.events.models import Event
from hub.events.types import MatchSuggested, Merged

SUGGESTED = MatchSuggested.TYPE
MERGED = Merged.TYPE

def suggest_match(session: Session, contact_id: int, held: list[tuple[str, str]], *, candidate_id: int) -> None:
    """Contact `contact_id` was made for addresses (`held`) that arrived with contact `candidate_id`
    unproven: the suggestion goes on both timelines."""
    identities = [{"kind": k, "address": a} for k, a in held]
    reason = "arrived in one message with the other contact's address, unverified"
    for on in (contact_id, candidate_id):
        log.append(session, MatchSuggested(timeline=on, contact_id=contact_id, candidate_id=candidate_id,
                                           identities=identities, reason=reason))


def suggested_matches(session: Session, contact_id: int) -> list[dict[str, Any]]:
    """The contacts suggested as this one's, oldest suggestion first, each once; those merged since
    (no identity left) or merged into each other are left out."""
    rows = session.execute(
        select(Event.id, Event.type, Event.payload, Event.created_at)
        .where(Event.contact_id == contact_id, Event.type.in_((SUGGESTED, MERGED)))  # type: ignore[attr-defined]
        .order_by(Event.id)  # type: ignore[arg-type]
    ).all()
    merged = {p.get("from_contact_id") for _, t, p, _ in rows if t == MERGED} | {
        p.get("into_contact_id") for _, t, p, _ in rows if t == MERGED}
    found: dict[int, dict[str, Any]] = {}
    for _, type_, p, at in rows:
        if type_ != SUGGESTED:
            continue
        other = p["candidate_id"] if p["contact_id"] == contact_id else p["contact_id"]
        if other != contact_id and other not in merged and other not in found:
            found[other] = {"contact_id": other, "identities": p.get("identities", []), "reason": p.get("reason"),
                            "suggested_at": at.isoformat()}
    if not found:
        return []
    # Those with an identity left (merged away otherwise), in one statement.
    has_identity = select(col(ContactIdentity.contact_id)).where(col(ContactIdentity.contact_id) == col(Contact.id))
    live: dict[int, str] = {id_: name for id_, name in session.execute(
        select(col(Contact.id), col(Contact.name)).where(col(Contact.id).in_(found), has_identity.exists()))}
    return [{**item, "name": live[other]} for other, item in found.items() if other in live]


def do_merge(session: Session, source_id: int, into_id: int, *, actor_agent_id: int | None) -> Contact:
    """Move everything of contact `source_id` into `into_id`: identities, conversations, their
    messages and the timeline's events. The source stays, empty, with the merge on its timeline."""
    if source_id == into_id:
        raise Invalid("a contact cannot be merged into itself")
    source, into = session.get(Contact, source_id), session.get(Contact, into_id)
    if source is None or into is None:
        raise NotFound(f"contact {source_id if source is None else into_id} does not exist")
    identities = [{"kind": k, "address": a} for k, a in session.execute(
        select(ContactIdentity.kind, ContactIdentity.address).where(ContactIdentity.contact_id == source_id)).all()]
    conversations = list(session.execute(
        select(Conversation.id).where(Conversation.contact_id == source_id)).scalars())
    for table in (ContactIdentity, Conversation, Message, Event):
        session.execute(update(table).where(table.contact_id == source_id).values(contact_id=into_id))  # type: ignore[attr-defined]
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
