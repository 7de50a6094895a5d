"""An address a customer merely types in (a web chat visitor leaving their email while no agent is
there, or in an unsigned pre-chat form): kept as a claim, never as an identity.

A claim is a `claimed:<kind>` identity (`claimed_kind`): no message ever resolves to a contact
through it (ingest looks up "email", never "claimed:email"), it is not the contact's main address,
and only the hand-over of a reply in that contact's own conversation reads it
(hub.delivery.hand_over). Otherwise anyone could type someone else's address and then receive
their mail in the widget. One claim per contact and kind: a new one replaces the old; the same
address claimed by another contact moves to them (a claim proves nothing, the latest visitor's
wins). Someone else's proven address is also suggested to agents as a match, never merged."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from hub.contacts.actions import find_by_identity, normalize_email
from hub.contacts.matches import suggest_match
from hub.contacts.models import Contact, ContactIdentity
from hub.errors import NotFound
from hub.events import log
from hub.events.types import ContactUpdated

CLAIMED = "claimed:"


def claimed_kind(kind: str) -> str:
    """The identity kind of an unproven address of `kind` ("email" -> "claimed:email")."""
    return CLAIMED + kind


def do_claim_email(session: Session, contact_id: int, raw: str) -> str:
    """Keep `raw` (validated: Invalid otherwise) as the contact's claimed email, replacing their
    earlier claim; suggest the contact whose proven address it is. Returns the address as stored."""
    email = normalize_email(raw)
    kind = claimed_kind("email")
    if session.get(Contact, contact_id) is None:
        raise NotFound(f"contact {contact_id} does not exist")
    mine = session.execute(select(ContactIdentity).where(
        col(ContactIdentity.contact_id) == contact_id, col(ContactIdentity.kind) == kind)).scalars().all()
    if any(i.address == email for i in mine):
        return email  # claimed already (a rerun, a reconnect)
    for old in mine:
        session.delete(old)
    session.flush()
    held = session.execute(select(ContactIdentity).where(
        col(ContactIdentity.kind) == kind, col(ContactIdentity.address) == email)).scalar_one_or_none()
    if held is not None:
        held.contact_id = contact_id
    else:
        session.add(ContactIdentity(contact_id=contact_id, kind=kind, address=email))
    log.append(session, ContactUpdated(contact_id=contact_id, changes={
        "claimed_email": [mine[0].address if mine else None, email]}))
    owner = find_by_identity(session, "email", email)
    if owner is not None and owner.id != contact_id:
        assert owner.id is not None
        suggest_match(session, contact_id, [(kind, email)], candidate_id=owner.id)
    return email
