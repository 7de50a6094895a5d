"""An address a known customer types in later (a web chat visitor leaving their email while no
agent is there): kept as theirs only when nobody else has it. Never a merge: someone else's
address is suggested to agents as a match instead (hub.contacts.matches), as a typed pre-chat
email is when it arrives with a first message (hub.contacts.actions.resolve_contact_id)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.clock import utcnow
from hub.contacts.actions import find_by_identity, normalize_email
from hub.contacts.matches import suggest_match
from hub.contacts.models import Contact, ContactIdentity
from hub.errors import NotFound
from hub.events import log
from hub.events.types import ContactUpdated


def do_claim_email(session: Session, contact_id: int, raw: str) -> str:
    """Keep `raw` (validated: Invalid otherwise) as the contact's email when nobody has it (their
    main address too if they have none: replies by email go there), or suggest the contact who has
    it. Returns the address as stored."""
    email = normalize_email(raw)
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    owner = find_by_identity(session, "email", email)
    if owner is not None:
        if owner.id != contact_id:
            assert owner.id is not None
            suggest_match(session, contact_id, [("email", email)], candidate_id=owner.id)
        return email
    try:
        with session.begin_nested():
            session.add(ContactIdentity(contact_id=contact_id, kind="email", address=email))
    except IntegrityError:
        return email  # taken meanwhile by a concurrent writer: it is theirs
    if not contact.email:
        log.append(session, ContactUpdated(contact_id=contact_id, changes={"email": [None, email]}))
        contact.email = email
        contact.updated_at = utcnow()
    return email
