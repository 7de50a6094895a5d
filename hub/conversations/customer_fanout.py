"""The customer feeds' fan-out in one process: one listener on the `EventBus` hands each event only
to the feeds of the customer whose conversation it is (hub.conversations.customer_feed).

Each feed used to be a subscription of its own to the bus, so every event woke every open visitor
socket to be filtered there: with 5,000 idle web chat sockets a visitor's message cost 4.4 ms of
server CPU against 0.6 ms with 300, and agents' replies reached visitors seconds late
(bench/RESULTS.md, "Issue 16, session 10"). Here feeds are indexed by their contact, for the events
that change which conversations are theirs (a new conversation; a merge into or away from them),
and by each conversation they follow; the index follows those events as they are dispatched, in
log order, as each feed's own filter did. An idle feed costs nothing per event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from hub.events.fanout import EventBus
from hub.events.log import EventView

MERGED = "contact.merged"
CREATED = "conversation.created"


class FeedSubscription:
    """One feed's mailbox: the events of the conversations it follows, in log order. A feed too far
    behind is marked overflowed (its events dropped): it reads the log again, then `reset()`s."""

    __slots__ = ("contact_id", "conversations", "events", "max_pending", "overflowed", "_waiter")

    def __init__(self, contact_id: int, max_pending: int) -> None:
        self.contact_id = contact_id
        self.conversations: set[int] = set()  # kept by CustomerFanout: whose events come here
        self.events: list[EventView] = []
        self.max_pending = max_pending
        self.overflowed = False
        self._waiter: asyncio.Future[None] | None = None

    def _offer(self, events: list[EventView]) -> None:
        if self.overflowed:
            return
        if len(self.events) + len(events) > self.max_pending:
            self.overflowed = True
            self.events = []
        else:
            self.events.extend(events)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> list[EventView]:
        """The events offered since the last call (waits for some); [] once overflowed."""
        while not self.events and not self.overflowed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        events, self.events = self.events, []
        return events

    def reset(self) -> None:
        """After reading the log again: receive live events anew."""
        self.overflowed = False
        self.events = []


class CustomerFanout:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.by_contact: dict[int, set[FeedSubscription]] = {}
        self.by_conversation: dict[int, set[FeedSubscription]] = {}
        self._stop: Callable[[], None] | None = None

    def subscribe(self, contact_id: int, max_pending: int = 10_000) -> FeedSubscription:
        """A feed of this contact, following no conversation yet (`follow` adds their own)."""
        if self._stop is None:
            self._stop = self.bus.listen(self._deliver)
        sub = FeedSubscription(contact_id, max_pending)
        self.by_contact.setdefault(contact_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: FeedSubscription) -> None:
        self.unfollow(sub, list(sub.conversations))
        _discard(self.by_contact, sub.contact_id, sub)

    def follow(self, sub: FeedSubscription, conversation_ids: Iterable[int]) -> None:
        for conversation_id in conversation_ids:
            sub.conversations.add(conversation_id)
            self.by_conversation.setdefault(conversation_id, set()).add(sub)

    def unfollow(self, sub: FeedSubscription, conversation_ids: Iterable[int]) -> None:
        for conversation_id in conversation_ids:
            sub.conversations.discard(conversation_id)
            _discard(self.by_conversation, conversation_id, sub)

    def _deliver(self, batch: list[EventView]) -> None:
        """On the event loop, for every batch the bus reads, in order."""
        touched: dict[FeedSubscription, list[EventView]] = {}
        for ev in batch:
            if ev.type in (CREATED, MERGED) and ev.contact_id in self.by_contact:
                for sub in list(self.by_contact[ev.contact_id]):
                    self._track(sub, ev)
            if ev.conversation_id is not None and ev.conversation_id in self.by_conversation:
                for sub in self.by_conversation[ev.conversation_id]:
                    touched.setdefault(sub, []).append(ev)
        for sub, events in touched.items():
            sub._offer(events)

    def _track(self, sub: FeedSubscription, ev: EventView) -> None:
        """Which conversations are the contact's: a new one of theirs, or conversations merged
        into or away from them."""
        if ev.type == CREATED:
            if ev.conversation_id:
                self.follow(sub, [ev.conversation_id])
            return
        moved = set(ev.payload.get("conversation_ids") or ())
        if ev.payload.get("into_contact_id") == sub.contact_id:
            self.follow(sub, moved)
        else:
            self.unfollow(sub, moved)


def _discard(index: dict[int, set[FeedSubscription]], key: int, sub: FeedSubscription) -> None:
    subs = index.get(key)
    if subs is not None:
        subs.discard(sub)
        if not subs:
            del index[key]
