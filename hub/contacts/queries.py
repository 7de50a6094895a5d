"""Reads on contacts alone (search and the timeline read conversations: hub.conversations.customers)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from hub.contacts.models import Contact, ContactIdentity
from hub.errors import NotFound


def get_contact(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    return contact


def identities(session: Session, contact_id: int) -> list[ContactIdentity]:
    return list(
        session.execute(select(ContactIdentity).where(col(ContactIdentity.contact_id) == contact_id)).scalars().all()
    )
