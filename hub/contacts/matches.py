"""Addresses that may belong to a known customer: held apart, suggested to agents, merged on their word.

A message that arrives with a known customer's address and a new one does not prove that the new
one is theirs (anyone can type a customer's email into a form next to their own phone number).
Unless the channel proves both (`ContactRef.verified`), the new address becomes a contact of its
own and a `contact.match_suggested` event on both timelines says which customer it came with. An
agent who agrees merges them (hub.conversations.merge): identities, conversations, messages and the
timeline move into the other contact, with a `contact.merged` event on both timelines. An agent who
knows they are different people dismisses the suggestion (`do_dismiss_match`, `contact.match_dismissed`
on both timelines).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from hub.contacts.models import Contact, ContactIdentity
from hub.errors import NotFound
from hub.events import log
from hub.events.models import Event
from hub.events.types import MatchDismissed, MatchSuggested, Merged

SUGGESTED = MatchSuggested.TYPE
MERGED = Merged.TYPE
DISMISSED = MatchDismissed.TYPE


def suggest_match(session: Session, contact_id: int, held: list[tuple[str, str]], *, candidate_id: int) -> None:
    """Contact `contact_id` was made for addresses (`held`) that arrived with contact `candidate_id`
    unproven: the suggestion goes on both timelines."""
    identities = [{"kind": k, "address": a} for k, a in held]
    reason = "arrived in one message with the other contact's address, unverified"
    for on in (contact_id, candidate_id):
        log.append(session, MatchSuggested(timeline=on, contact_id=contact_id, candidate_id=candidate_id,
                                           identities=identities, reason=reason))


def suggested_matches(session: Session, contact_id: int, *, readable: Any = None) -> list[dict[str, Any]]:
    """The contacts suggested as this one's, oldest suggestion first, each once; those merged since
    (no identity left) or merged into each other are left out, and so are those dismissed (unless
    suggested again since). `readable` (SQL on `Contact`, as hub.access builds it) leaves out those
    the caller may not read: a suggestion would show their name."""
    rows = session.execute(
        select(col(Event.id), col(Event.type), col(Event.payload), col(Event.created_at))
        .where(col(Event.contact_id) == contact_id, col(Event.type).in_((SUGGESTED, MERGED, DISMISSED)))
        .order_by(col(Event.id))
    ).all()
    merged = {p.get("from_contact_id") for _, t, p, _ in rows if t == MERGED} | {
        p.get("into_contact_id") for _, t, p, _ in rows if t == MERGED}
    found: dict[int, dict[str, Any]] = {}
    for _, type_, p, at in rows:
        if type_ == MERGED:
            continue
        other = p["candidate_id"] if p["contact_id"] == contact_id else p["contact_id"]
        if type_ == DISMISSED:
            found.pop(other, None)
        elif other != contact_id and other not in merged and other not in found:
            found[other] = {"contact_id": other, "identities": p.get("identities", []), "reason": p.get("reason"),
                            "suggested_at": at.isoformat()}
    if not found:
        return []
    # Those with an identity left (merged away otherwise), in one statement.
    has_identity = select(col(ContactIdentity.contact_id)).where(col(ContactIdentity.contact_id) == col(Contact.id))
    live_contacts = select(col(Contact.id), col(Contact.name)).where(col(Contact.id).in_(found), has_identity.exists())
    if readable is not None:
        live_contacts = live_contacts.where(readable)
    live: dict[int, str] = {id_: name for id_, name in session.execute(live_contacts)}
    return [{**item, "name": live[other]} for other, item in found.items() if other in live]


def do_dismiss_match(session: Session, contact_id: int, other_id: int, *, actor_agent_id: int | None) -> None:
    """The agent says `other_id`, suggested as `contact_id`'s, is someone else: the suggestion goes
    from both contacts (a `contact.match_dismissed` on both timelines, so open consoles update)."""
    if not any(m["contact_id"] == other_id for m in suggested_matches(session, contact_id)):
        raise NotFound(f"contact {other_id} is not suggested as the same customer as contact {contact_id}")
    for on in (contact_id, other_id):
        log.append(session, MatchDismissed(timeline=on, actor_agent_id=actor_agent_id, contact_id=contact_id,
                                           candidate_id=other_id))
