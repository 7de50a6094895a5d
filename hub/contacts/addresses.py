"""A contact's address on a channel, by the identity kind the channel's adapter declares
(`ChannelAdapter.address_kind`: "phone", "email", ...): the hub itself names no channel."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import Session, col

from hub.contacts.actions import find_by_identity, normalize_email, normalize_phone
from hub.contacts.models import Contact, ContactIdentity

# Kinds with a normalizer and a column of their own on contacts (the contact's main address).
_NORMALIZE = {"phone": normalize_phone, "email": normalize_email}


def normalize_address(kind: str, raw: str) -> str:
    """As identities of this kind are stored; Invalid if it is not one."""
    normalize = _NORMALIZE.get(kind)
    return normalize(raw) if normalize is not None else raw.strip()


def find_by_address(session: Session, kind: str, address: str) -> Contact | None:
    """The contact with this (normalized) address, or None."""
    return find_by_identity(session, kind, address)


def addresses_of(session: Session, contact_ids: Iterable[int], kind: str) -> dict[int, str]:
    """contact id -> its address of this kind: the contact's main one for phone and email, else
    its oldest identity of that kind. Contacts without one are left out."""
    ids = list(set(contact_ids))
    if not ids:
        return {}
    if kind in _NORMALIZE:
        column = col(Contact.phone) if kind == "phone" else col(Contact.email)
        rows = session.execute(select(col(Contact.id), column).where(col(Contact.id).in_(ids), column.is_not(None)))
        return {contact_id: address for contact_id, address in rows if contact_id is not None and address}
    out: dict[int, str] = {}
    for contact_id, address in session.execute(
        select(col(ContactIdentity.contact_id), col(ContactIdentity.address))
        .where(col(ContactIdentity.contact_id).in_(ids), col(ContactIdentity.kind) == kind)
        .order_by(col(ContactIdentity.id).desc())
    ):
        out[contact_id] = address  # the last assignment is the oldest
    return out
