"""Appending to the event log, and reading it back in commit order.

Gap-free resume (DESIGN.md contract 4). Readers page through the log by `id > cursor`. That is only
safe if ids become visible in increasing order: a reader at N must never later find a committed
row with an id <= N. A plain sequence does not promise that on PostgreSQL, because transaction A
can take id 10, transaction B id 11, and B commit first.

The scheme: every transaction that appends events first takes one transaction-scoped advisory lock
(`pg_advisory_xact_lock`), then inserts its events, and holds the lock until it commits or rolls
back. Ids are drawn from the sequence only while holding the lock, so the transaction that drew
id k has committed or aborted before any transaction can draw an id > k. Hence once a reader sees
id k, every id < k is either visible or will never exist. Event inserts come last in each
transaction, so the lock is held only for the tail of a commit. On SQLite every write transaction
starts with BEGIN IMMEDIATE and holds the single database write lock, which gives the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlmodel import Session

from hub.conversations.models import Conversation
from hub.db import EVENTS_WRITTEN
from hub.events.models import Event

EVENT_LOG_LOCK_KEY = 7_283_001
_LOCK_TAKEN = "hub_event_lock_taken"


def lock(session: Session) -> None:
    """Take the event-log lock for the rest of this transaction (PostgreSQL; a no-op on SQLite).

    Routing takes this same lock for its capacity checks (hub.routing.actions): one lock, so no
    two transactions can ever take two locks in opposite orders and deadlock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    root = session.get_transaction()
    if root is not None and session.info.get(_LOCK_TAKEN) is root:
        return
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_LOG_LOCK_KEY})
    # Rolling back a savepoint releases an advisory lock taken inside it, so remember the lock
    # only when it was taken outside any savepoint (then it lasts until the transaction ends).
    if session.get_nested_transaction() is None:
        session.info[_LOCK_TAKEN] = root


def append(
    session: Session,
    type: str,
    *,
    conversation_id: int | None = None,
    contact_id: int | None = None,
    actor_agent_id: int | None = None,
    payload: dict[str, Any] | None = None,
    private: bool = False,
) -> Event:
    """Add an event to the current write transaction. Call it after the change it records."""
    lock(session)
    event = Event(
        type=type,
        conversation_id=conversation_id,
        contact_id=contact_id,
        actor_agent_id=actor_agent_id,
        payload=payload or {},
        private=private,
    )
    session.add(event)
    session.info[EVENTS_WRITTEN] = True
    return event


@dataclass(frozen=True)
class EventView:
    """An event as readers see it, with its conversation's current team and assignee (for access)."""

    id: int
    type: str
    conversation_id: int | None
    contact_id: int | None
    actor_agent_id: int | None
    private: bool
    payload: dict[str, Any]
    created_at: datetime
    team_id: int | None
    assignee_id: int | None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "conversation_id": self.conversation_id,
            "contact_id": self.contact_id,
            "actor_agent_id": self.actor_agent_id,
            "at": self.created_at.isoformat(),
            "data": self.payload,
        }


def read_after(session: Session, after_id: int, limit: int = 500) -> list[EventView]:
    stmt = (
        select(Event, Conversation.team_id, Conversation.assignee_id)
        .outerjoin(Conversation, Conversation.id == Event.conversation_id)  # type: ignore[arg-type]
        .where(Event.id > after_id)  # type: ignore[operator]
        .order_by(Event.id)  # type: ignore[arg-type]
        .limit(limit)
    )
    return [
        EventView(
            id=ev.id,  # type: ignore[arg-type]
            type=ev.type,
            conversation_id=ev.conversation_id,
            contact_id=ev.contact_id,
            actor_agent_id=ev.actor_agent_id,
            private=ev.private,
            payload=ev.payload,
            created_at=ev.created_at,
            team_id=team_id,
            assignee_id=assignee_id,
        )
        for ev, team_id, assignee_id in session.execute(stmt).all()
    ]


def head_id(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(Event.id), 0))).scalar_one())


def count_after(session: Session, after_id: int) -> int:
    return int(session.execute(select(func.count()).where(Event.id > after_id)).scalar_one())  # type: ignore[operator]
