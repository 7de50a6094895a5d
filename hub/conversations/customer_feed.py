"""One customer's live feed (web chat's public socket): the events of their conversations that a
customer may see, as `PublicEvent`s, built on the process's `EventBus` through the customer fan-out
(hub.conversations.customer_fanout: only the customer's own events reach their feed).

What comes out is decided here, by a list of what may (`public_event`), never by a list of what
may not: their messages and the agents' replies (never notes), the agent's display name when
someone takes the conversation, resolved and reopened. Agents' ids, teams, routing steps, notes,
mentions and other customers' conversations never do (DESIGN.md contract 7). Their own rating
does (a widget opened again knows it was given). "Their
conversations" are those whose contact is the customer, whoever wrote a message into them.

Gap-free as the agents' sockets are: subscribe first, then read the log from `after_event_id`
(only the customer's conversations, through their index), then the live batches; ids already
passed are dropped. A feed that falls behind the bus reads the log again from where it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Text, cast, select
from sqlmodel import Session, col

from hub.agents.models import Agent
from hub.conversations.customer_fanout import CustomerFanout
from hub.conversations.models import Conversation
from hub.db import Database, table_of
from hub.events.log import EventView
from hub.events.models import Event
from hub.ports import PublicEvent

# The message fields a customer sees (no author id, delivery internals or client ids).
_MESSAGE_FIELDS = ("id", "direction", "text", "html", "subject", "attachments", "created_at")
_ASSIGNED = ("conversation.assigned", "conversation.transferred")
PAGE = 500


def public_event(ev: EventView, agent_names: dict[int, str]) -> PublicEvent | None:
    """The customer's view of one event of their conversation, or None if it is not theirs to see.
    `agent_names`: display names of the agents it may mention (`agent_ids_in` lists them)."""
    if ev.private or ev.conversation_id is None:
        return None
    data: dict[str, Any]
    if ev.type == "message.created":
        message = ev.payload.get("message") or {}
        if message.get("direction") not in ("in", "out"):
            return None
        data = {k: message.get(k) for k in _MESSAGE_FIELDS}
        if message.get("direction") == "out":
            author = message.get("author_agent_id")
            data["agent_name"] = agent_names.get(author) if author is not None else None
        return PublicEvent(ev.id, "message.created", ev.conversation_id, ev.created_at, data)
    if ev.type in _ASSIGNED:
        assignee = ev.payload.get("assignee_id")
        if assignee is None or assignee == ev.payload.get("from_assignee_id"):
            return None  # back to a queue, or a move between teams: routing's business
        return PublicEvent(ev.id, "conversation.assigned", ev.conversation_id, ev.created_at,
                           {"agent_name": agent_names.get(assignee)})
    if ev.type == "receipt.agent_read":
        return PublicEvent(ev.id, "receipt.agent_read", ev.conversation_id, ev.created_at,
                           {"upto_message_id": ev.payload.get("upto_message_id")})
    if ev.type == "conversation.status_changed":
        before, after = ev.payload.get("from"), ev.payload.get("to")
        if after == "resolved":
            return PublicEvent(ev.id, "conversation.resolved", ev.conversation_id, ev.created_at, {})
        if before == "resolved" and after == "open":
            return PublicEvent(ev.id, "conversation.reopened", ev.conversation_id, ev.created_at, {})
    if ev.type == "conversation.rated":  # their own rating, back to them
        return PublicEvent(ev.id, "conversation.rated", ev.conversation_id, ev.created_at,
                           {"score": ev.payload.get("score"), "comment": ev.payload.get("comment")})
    return None


def agent_ids_in(ev: EventView) -> set[int]:
    if ev.type == "message.created":
        author = (ev.payload.get("message") or {}).get("author_agent_id")
        return {author} if isinstance(author, int) else set()
    if ev.type in _ASSIGNED and isinstance(ev.payload.get("assignee_id"), int):
        return {ev.payload["assignee_id"]}
    return set()


class CustomerFeed:
    def __init__(self, db: Database, fanout: CustomerFanout, contact_id: int) -> None:
        self.db, self.fanout, self.contact_id = db, fanout, contact_id
        self.agent_names: dict[int, str] = {}

    async def events(self, after_event_id: int) -> AsyncIterator[PublicEvent]:
        cursor = after_event_id
        # Subscribed first: from now on the fan-out follows the contact's new conversations; the
        # ones they already have are added before the log is read (an event of theirs dispatched
        # before that is in the log by then).
        sub = self.fanout.subscribe(self.contact_id)
        try:
            self.fanout.follow(sub, await asyncio.to_thread(self._owned))
            while True:
                while page := await asyncio.to_thread(self._read_after, sorted(sub.conversations), cursor):
                    for public in await self._public(page):
                        yield public
                    cursor = page[-1].id
                    if len(page) < PAGE:
                        break
                while not sub.overflowed:
                    mine = [ev for ev in await sub.get() if ev.id > cursor]
                    for public in await self._public(mine):
                        yield public
                    if mine:
                        cursor = mine[-1].id
                sub.reset()  # fell behind: read the log again from the cursor
        finally:
            self.fanout.unsubscribe(sub)

    async def _public(self, events: list[EventView]) -> list[PublicEvent]:
        wanted = set().union(*(agent_ids_in(ev) for ev in events)) - self.agent_names.keys() if events else set()
        if wanted:
            self.agent_names.update(await asyncio.to_thread(self._names, wanted))
        return [p for ev in events if (p := public_event(ev, self.agent_names)) is not None]

    def _owned(self) -> set[int]:
        with self.db.read() as s:
            return set(s.execute(select(col(Conversation.id))
                                 .where(col(Conversation.contact_id) == self.contact_id)).scalars())

    def _read_after(self, conversation_ids: list[int], after_id: int) -> list[EventView]:
        if not conversation_ids:
            return []
        with self.db.read() as s:
            return _events_of(s, conversation_ids, after_id)

    def _names(self, agent_ids: set[int]) -> dict[int, str]:
        with self.db.read() as s:
            rows = s.execute(select(col(Agent.id), col(Agent.name)).where(col(Agent.id).in_(agent_ids))).all()
            return {agent_id: name for agent_id, name in rows if agent_id is not None}


def _events_of(session: Session, conversation_ids: list[int], after_id: int) -> list[EventView]:
    e = table_of(Event).c
    rows = session.execute(
        select(e.id, e.type, e.conversation_id, e.contact_id, e.actor_agent_id, e.private, cast(e.payload, Text),
               e.created_at)
        .where(e.conversation_id.in_(conversation_ids), e.id > after_id).order_by(e.id).limit(PAGE)
    )
    return [EventView(id, type, cid, contact_id, actor, bool(private), payload, created_at, None, None)
            for id, type, cid, contact_id, actor, private, payload, created_at in rows]

