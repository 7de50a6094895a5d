"""Reads on customers through their conversations: search limited to the conversations a caller
may see, and the one timeline across every conversation and channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, or_, select
from sqlmodel import Session, col

from hub.contacts.models import Contact
from hub.conversations.models import Conversation
from hub.events.models import Event


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def has_conversation_within(contact_id: Any, within: Any) -> Any:
    """SQL: the contact has a conversation matching `within` (a filter on conversations)."""
    return exists().where(Conversation.contact_id == contact_id, within)


def search_contacts(session: Session, q: str | None, *, limit: int = 50, within: Any = None) -> list[Contact]:
    """Contacts whose name, email or phone contains `q` (literally: `%` and `_` are no wildcards),
    all of them when `q` is None; only those with a conversation matching `within` if given."""
    stmt = select(Contact)
    if q is not None:
        like = f"%{_like_escaped(q.strip().lower())}%"
        stmt = stmt.where(
            or_(col(Contact.name).ilike(like, escape="\\"), col(Contact.email).ilike(like, escape="\\"),
                col(Contact.phone).ilike(like, escape="\\"))
        )
    if within is not None:
        stmt = stmt.where(has_conversation_within(Contact.id, within))
    return list(session.execute(stmt.order_by(col(Contact.id).desc()).limit(limit)).scalars().all())


def timeline(session: Session, contact_id: int, *, before_id: int | None = None, limit: int = 50,
             within: Any = None) -> list[Event]:
    """The contact's events, newest first; page with before_id = the last id of the previous page.
    `within`: a filter on conversations; events of other conversations are left out."""
    stmt = select(Event).where(col(Event.contact_id) == contact_id)
    if within is not None:
        shown = select(col(Conversation.id)).where(col(Conversation.contact_id) == contact_id, within)
        stmt = stmt.where(or_(col(Event.conversation_id).is_(None), col(Event.conversation_id).in_(shown)))
    if before_id is not None:
        stmt = stmt.where(col(Event.id) < before_id)
    stmt = stmt.order_by(col(Event.id).desc()).limit(limit)
    return list(session.execute(stmt).scalars().all())
