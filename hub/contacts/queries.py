"""Reads on contacts: lookup, search, and the one timeline across every conversation and channel."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlmodel import Session

from hub.contacts.models import Contact, ContactIdentity
from hub.errors import NotFound
from hub.events.models import Event


def get_contact(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    return contact


def identities(session: Session, contact_id: int) -> list[ContactIdentity]:
    return list(
        session.execute(select(ContactIdentity).where(ContactIdentity.contact_id == contact_id)).scalars().all()
    )


def search_contacts(session: Session, q: str | None, *, limit: int = 50) -> list[Contact]:
    stmt = select(Contact)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(Contact.name.ilike(like), Contact.email.ilike(like), Contact.phone.ilike(like))  # type: ignore[union-attr]
        )
    return list(session.execute(stmt.order_by(Contact.id.desc()).limit(limit)).scalars().all())  # type: ignore[union-attr]


def timeline(session: Session, contact_id: int, *, before_id: int | None = None, limit: int = 50) -> list[Event]:
    """The contact's events, newest first; page with before_id = the last id of the previous page."""
    stmt = select(Event).where(Event.contact_id == contact_id)
    if before_id is not None:
        stmt = stmt.where(Event.id < before_id)  # type: ignore[operator]
    stmt = stmt.order_by(Event.id.desc()).limit(limit)  # type: ignore[union-attr]
    return list(session.execute(stmt).scalars().all())
