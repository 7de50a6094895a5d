"""Addresses that may belong to a known customer: held apart, suggested to agents, merged on their word.

A message that arrives with a known customer's address and a new one does not prove that the new
one is theirs (anyone can type a customer's email into a form next to their own phone number).
Unless the channel proves both (`ContactRef.verified`), the new address becomes a contact of its
own and a `contact.match_suggested` event on both timelines says which customer it came with. An
agent who agrees merges them (hub.conversations.merge): identities, conversations, messages and the
timeline move into the other contact, with a `contact.merged` event on both timelines.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlmodel import Session

from hub.contacts.models import Contact, ContactIdentity
from hub.events import log
from hub.events.models import Event

SUGGESTED = "contact.match_suggested"
MERGED = "contact.merged"

_INSERT_CONTACT = insert(Contact.__table__).returning(Contact.__table__.c.id)  # type: ignore[attr-defined]
_INSERT_IDENTITY = insert(ContactIdentity.__table__)  # type: ignore[attr-defined]


def hold_apart(session: Session, row: dict[str, Any], held: list[tuple[str, str]], *, candidate_id: int) -> int:
    """A new contact (`row`: `new_contact_row` of `held`) for addresses that arrived with contact
    `candidate_id` unproven, and the suggestion on both timelines. Returns the new contact's id."""
    now = row["created_at"]
    contact_id = int(session.execute(_INSERT_CONTACT, row).scalar_one())
    # No savepoint: if a concurrent writer took one of these addresses first, the whole transaction
    # fails on the unique key and its retry finds it known (Hub.ingest), as for a new contact.
    session.execute(_INSERT_IDENTITY, [{"contact_id": contact_id, "kind": kind, "address": address,
                                        "created_at": now} for kind, address in held])
    payload = {"contact_id": contact_id, "candidate_id": candidate_id,
               "identities": [{"kind": k, "address": a} for k, a in held],
               "reason": "arrived in one message with the other contact's address, unverified"}
    for on in (contact_id, candidate_id):
        log.append(session, SUGGESTED, contact_id=on, payload=payload, private=True)
    return contact_id


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
    live = dict(session.execute(
        select(ContactIdentity.contact_id, func.count()).where(ContactIdentity.contact_id.in_(found))  # type: ignore[attr-defined]
        .group_by(ContactIdentity.contact_id)
    ).all())
    names = dict(session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(found))).all())  # type: ignore[union-attr]
    return [{**item, "name": names.get(other)} for other, item in found.items() if live.get(other)]
