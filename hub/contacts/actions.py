"""Resolving who wrote: find the contact behind an address, or create one."""

from __future__ import annotations

import phonenumbers
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.clock import utcnow
from hub.contacts.models import Contact, ContactIdentity
from hub.errors import Invalid
from hub.ports import ContactRef

# session.info: (transaction, ids of the contacts it created), for `created_in_transaction`.
_NEW_CONTACTS = "hub_new_contacts"


def created_in_transaction(session: Session, contact_id: int | None) -> bool:
    """Whether `do_resolve_contact` created this contact in the session's current transaction (so it
    has no history yet: no earlier conversation, no agent who served them)."""
    mark = session.info.get(_NEW_CONTACTS)
    return mark is not None and mark[0] is session.get_transaction() and contact_id in mark[1]


def normalize_email(raw: str) -> str:
    value = raw.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@") or " " in value:
        raise Invalid(f"not an email address: {raw!r}")
    return value


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """E.164, or Invalid. Numbers without a leading + need a default region."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise Invalid(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def identities_of(ref: ContactRef, ref_scope: str | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if ref.external_ref:
        out.append((f"ref:{ref_scope or 'api'}", ref.external_ref.strip()))
    if ref.email:
        out.append(("email", normalize_email(ref.email)))
    if ref.phone:
        out.append(("phone", normalize_phone(ref.phone)))
    if not out:
        raise Invalid("a contact needs an email, a phone number or an external reference")
    return out


def find_by_identity(session: Session, kind: str, address: str) -> Contact | None:
    stmt = (
        select(Contact)
        .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)  # type: ignore[arg-type]
        .where(ContactIdentity.kind == kind, ContactIdentity.address == address)
    )
    return session.execute(stmt).scalars().first()


def do_resolve_contact(session: Session, ref: ContactRef, *, ref_scope: str | None = None) -> tuple[Contact, bool]:
    """The contact owning the first known identity, else a new one; unknown identities are attached
    (a new contact's are pending in the session until its next flush).

    An identity that already belongs to another contact is left there: merging people is a
    deliberate act, never a side effect of a message.
    """
    idents = identities_of(ref, ref_scope)
    # One query for every identity given (this runs for every inbound message).
    known = {
        (kind, address): contact_id
        for kind, address, contact_id in session.execute(
            select(ContactIdentity.kind, ContactIdentity.address, ContactIdentity.contact_id).where(
                or_(*(and_(ContactIdentity.kind == k, ContactIdentity.address == a) for k, a in idents))
            )
        ).all()
    }
    owner = next((known[i] for i in idents if i in known), None)
    contact = session.get(Contact, owner) if owner is not None else None
    created = contact is None
    if contact is None:
        email = next((a for k, a in idents if k == "email"), None)
        phone = next((a for k, a in idents if k == "phone"), None)
        contact = Contact(name=(ref.name or "").strip() or (email or phone or ""), email=email, phone=phone)
        session.add(contact)
        session.flush()
        mark = session.info.get(_NEW_CONTACTS)
        if mark is None or mark[0] is not session.get_transaction():
            mark = session.info[_NEW_CONTACTS] = (session.get_transaction(), set())
        mark[1].add(contact.id)
    elif ref.name and not contact.name:
        contact.name = ref.name.strip()
        contact.updated_at = utcnow()
    for kind, address in idents:
        if (kind, address) in known:
            continue
        if created:
            # Written with the caller's next flush, without a savepoint: if a concurrent writer
            # took this address first, the whole transaction fails on the unique key and its retry
            # finds their contact (Hub.ingest), instead of keeping a second one without it.
            session.add(ContactIdentity(contact_id=contact.id, kind=kind, address=address))  # type: ignore[arg-type]
        else:
            _attach_identity(session, contact, kind, address)
    return contact, created


def _attach_identity(session: Session, contact: Contact, kind: str, address: str) -> None:
    try:
        with session.begin_nested():
            session.add(ContactIdentity(contact_id=contact.id, kind=kind, address=address))  # type: ignore[arg-type]
    except IntegrityError:
        return  # a concurrent writer attached it first; it belongs to whoever won
    if kind == "email" and not contact.email:
        contact.email = address
    if kind == "phone" and not contact.phone:
        contact.phone = address
