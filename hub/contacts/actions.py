"""Resolving who wrote: find the contact behind an address, or create one."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.contacts.emails import valid_email
from hub.contacts.matches import suggest_match
from hub.contacts.models import Contact, ContactIdentity
from hub.contacts.preferences import NEW_CONTACT_TIER, normalize_language, normalize_tier
from hub.db import table_of
from hub.errors import Invalid
from hub.plain_sql import new_row
from hub.ports import ContactRef

# session.info: (transaction, {id: (tier, language)} of the contacts it created), for
# `created_in_transaction` and `created_facts`.
_NEW_CONTACTS = "hub_new_contacts"


def created_facts(session: Session, contact_id: int | None) -> tuple[str, str | None] | None:
    """(tier, language) of this contact if this module created it in the session's current
    transaction (it has no history yet: no earlier conversation, no agent who served them), else
    None. Routing reads them here: a first conversation is routed before its contact is written."""
    mark = session.info.get(_NEW_CONTACTS)
    if mark is None or mark[0] is not session.get_transaction():
        return None
    return mark[1].get(contact_id)


def created_in_transaction(session: Session, contact_id: int | None) -> bool:
    return created_facts(session, contact_id) is not None


def mark_created(session: Session, contact_id: int, tier: str = NEW_CONTACT_TIER, language: str | None = None) -> None:
    """Record that this transaction created this contact (`created_facts`)."""
    mark: tuple[Any, dict[int, tuple[str, str | None]]] | None = session.info.get(_NEW_CONTACTS)
    if mark is None or mark[0] is not session.get_transaction():
        mark = session.info[_NEW_CONTACTS] = (session.get_transaction(), {})
    mark[1][contact_id] = (tier, language)


def normalize_email(raw: str) -> str:
    """Trimmed and lowercased, or Invalid (hub.contacts.emails)."""
    return valid_email(raw)


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """E.164, or Invalid. Numbers without a leading + need a default region."""
    normalized = _normalize_phone(raw, default_region)
    if isinstance(normalized, Invalid):
        raise Invalid(normalized.message)
    return normalized


# Cached: the same customers write again and again, and parsing a number on every message was a
# fifth of the ingest writer's CPU for SMS (bench/RESULTS.md). The answer, not the exception
# object, is cached (a raised exception carries its traceback).
@functools.lru_cache(maxsize=65536)
def _normalize_phone(raw: str, default_region: str | None) -> str | Invalid:
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return Invalid(f"not a phone number: {raw!r}")
    if not phonenumbers.is_possible_number(parsed):
        return Invalid(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def ref_kind(ref_scope: str | None) -> str:
    """The identity kind of an external reference given with this ingest scope."""
    return f"ref:{ref_scope or 'api'}"


def identities_of(ref: ContactRef, ref_scope: str | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if ref.external_ref:
        out.append((ref_kind(ref_scope), ref.external_ref.strip()))
    if ref.email:
        out.append(("email", normalize_email(ref.email)))
    if ref.phone:
        out.append(("phone", normalize_phone(ref.phone)))
    if not out:
        raise Invalid("a contact needs an email, a phone number or an external reference")
    # A new contact's tier and language (`new_contact_row`), refused here with the addresses.
    if ref.tier is not None:
        normalize_tier(ref.tier)
    if ref.language is not None:
        normalize_language(ref.language)
    return out


def find_by_identity(session: Session, kind: str, address: str) -> Contact | None:
    stmt = (
        select(Contact)
        .join(ContactIdentity, col(ContactIdentity.contact_id) == col(Contact.id))
        .where(col(ContactIdentity.kind) == kind, col(ContactIdentity.address) == address)
    )
    return session.execute(stmt).scalars().first()


def _known(session: Session, idents: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(kind, address) -> contact id of the identities that exist, in one query."""
    return {
        (kind, address): contact_id
        for kind, address, contact_id in session.execute(
            select(col(ContactIdentity.kind), col(ContactIdentity.address), col(ContactIdentity.contact_id)).where(
                or_(*(and_(col(ContactIdentity.kind) == k, col(ContactIdentity.address) == a) for k, a in idents))
            )
        ).all()
    }


_CONTACTS = table_of(Contact)
_INSERT_CONTACT = insert(_CONTACTS).returning(_CONTACTS.c.id)
_INSERT_IDENTITY = insert(table_of(ContactIdentity))


def new_contact_row(ref: ContactRef, idents: list[tuple[str, str]], now: datetime) -> dict[str, Any]:
    """The `contacts` row (every column but its id) of a new contact with these identities."""
    email = next((a for k, a in idents if k == "email"), None)
    phone = next((a for k, a in idents if k == "phone"), None)
    row = new_row(_CONTACTS, name=(ref.name or "").strip() or (email or phone or ""), email=email, phone=phone,
                  tier=normalize_tier(ref.tier) if ref.tier is not None else NEW_CONTACT_TIER,
                  language=normalize_language(ref.language) if ref.language is not None else None,
                  created_at=now, updated_at=now)
    del row["id"]
    return row


def insert_contact(session: Session, row: dict[str, Any], idents: list[tuple[str, str]]) -> int:
    """Writes a new contact (`row`: `new_contact_row`) and its identities, without entities (through
    the ORM they cost a flush and slow entity construction each); returns its id. No savepoint: if
    a concurrent writer took one of these addresses first, the whole transaction fails on the unique
    key and its retry finds their contact (Hub.ingest)."""
    contact_id = int(session.execute(_INSERT_CONTACT, row).scalar_one())
    session.execute(_INSERT_IDENTITY, [{"contact_id": contact_id, "kind": kind, "address": address,
                                        "created_at": row["created_at"]} for kind, address in idents])
    return contact_id


def resolve_contact_id(session: Session, ref: ContactRef, *, ref_scope: str | None = None,
                       known: dict[tuple[str, str], int] | None = None) -> tuple[int, bool]:
    """The contact owning the first known identity of `ref`, else a new one with all of them: (its
    id, whether it is new). An identity that already belongs to another contact is left there:
    merging people is a deliberate act, never a side effect of a message. `known`: the identities
    of `ref` that exist, if the caller has just read them in this transaction (else read here)."""
    idents = identities_of(ref, ref_scope)
    if known is None:
        known = _known(session, idents)
    owner = next((known[i] for i in idents if i in known), None)
    if owner is not None and not _claims_only(ref, idents, known):
        _update_known(session, ref, idents, known, owner)
        return owner, False
    new = [i for i in idents if i not in known]
    row = new_contact_row(ref, new, utcnow())
    contact_id = insert_contact(session, row, new)
    mark_created(session, contact_id, row["tier"], row["language"])
    if owner is not None:
        suggest_match(session, contact_id, new, candidate_id=owner)
    return contact_id, True


def _claims_only(ref: ContactRef, idents: list[tuple[str, str]], known: dict[tuple[str, str], int]) -> bool:
    """Whether the sender proves addresses nobody has and is recognised only by one they merely
    claim (a web chat visitor typing a known customer's email into the pre-chat form): their
    message is not that customer's. They get a contact of their own, suggested as a match."""
    verified = verified_identities(ref, idents)
    return bool(verified) and not any(i in known for i in verified)


def verified_identities(ref: ContactRef, idents: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The identities of `ref` whose address its channel proves (`ContactRef.verified`)."""
    if not ref.verified:
        return set()
    return {(kind, address) for kind, address in idents
            if ("external_ref" if kind.startswith("ref:") else kind) in ref.verified}


def _update_known(session: Session, ref: ContactRef, idents: list[tuple[str, str]],
                  known: dict[tuple[str, str], int], owner: int) -> None:
    """A known contact (`owner`, of the first known identity) wrote: fills in a missing name. A new
    address joins them only if the channel proves it and they were recognised by a proven address
    too; otherwise it is held apart in a contact of its own, suggested as a match (hub.contacts.matches)."""
    contact = session.get(Contact, owner)
    assert contact is not None and contact.id is not None
    if ref.name and not contact.name:
        contact.name = ref.name.strip()
        contact.updated_at = utcnow()
    verified = verified_identities(ref, idents)
    proven_owner = any(known.get(i) == owner for i in verified)
    held: list[tuple[str, str]] = []
    for kind, address in idents:
        if (kind, address) in known:
            continue
        if proven_owner and (kind, address) in verified:
            _attach_identity(session, contact, kind, address)
        else:
            held.append((kind, address))
    if held:
        apart = insert_contact(session, new_contact_row(ContactRef(), held, utcnow()), held)
        suggest_match(session, apart, held, candidate_id=contact.id)


def _attach_identity(session: Session, contact: Contact, kind: str, address: str) -> None:
    assert contact.id is not None
    try:
        with session.begin_nested():
            session.add(ContactIdentity(contact_id=contact.id, kind=kind, address=address))
    except IntegrityError:
        return  # a concurrent writer attached it first; it belongs to whoever won
    if kind == "email" and not contact.email:
        contact.email = address
    if kind == "phone" and not contact.phone:
        contact.phone = address
