"""A customer rates their resolved conversation (hub/conversations/ratings.py, HubPort.rate_conversation_async):
only their own, only resolved, once per resolution (again after it is reopened and resolved once more); the
rating is a public event on the timeline, which their own feed shows back. On both databases."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text

from hub.conversations.actions import do_set_status, get_conversation
from hub.db import Database
from hub.events.types import CATALOGUE
from hub.ports import ContactRef, InboundMessage, IngestResult, RejectedMessage
from hub.runtime import Hub


def chat(hub: Hub, who: str, said: str) -> IngestResult:
    return hub.ingest(InboundMessage(channel="chat", source="site", ingest_scope="chat:site",
                                     external_id=f"{who}-{said}", contact=ContactRef(email=f"{who}@example.com"),
                                     text=said))


def set_status(database: Database, conversation_id: int, status: str) -> None:
    with database.write() as s:
        do_set_status(s, get_conversation(s, conversation_id), status, agent_id=None)


def ratings(database: Database, conversation_id: int) -> list[tuple[bool, dict[str, object]]]:
    with database.read() as s:
        return [(bool(private), json.loads(p) if isinstance(p, str) else p) for private, p in s.execute(text(
            "SELECT private, payload FROM events WHERE type = 'conversation.rated' AND conversation_id = :c "
            "ORDER BY id"), {"c": conversation_id})]


def test_the_customer_rates_once_per_resolution_and_nobody_else_can(hub: Hub, database: Database) -> None:
    assert CATALOGUE["conversation.rated"].AUDIENCE == "public"

    async def run() -> None:
        await hub.start()
        try:
            ann, bob = chat(hub, "ann", "hello"), chat(hub, "bob", "hi")
            conversation = ann.conversation_id

            async def refused(contact_id: int, score: object, comment: object = None) -> str:
                with pytest.raises(RejectedMessage) as caught:
                    await hub.rate_conversation_async(contact_id, conversation, score, comment)  # type: ignore[arg-type]
                return str(caught.value)

            assert "resolved" in await refused(ann.contact_id, 5)  # still open
            set_status(database, conversation, "resolved")
            assert "not one of this customer's" in await refused(bob.contact_id, 1)
            for bad in (0, 6, True, "5", 4.5):
                assert "1 to 5" in await refused(ann.contact_id, bad)
            assert "1000" in await refused(ann.contact_id, 4, "x" * 1001)

            await hub.rate_conversation_async(ann.contact_id, conversation, 4, "  Quick and kind  ")
            assert "rated already" in await refused(ann.contact_id, 1, "changed my mind")

            set_status(database, conversation, "open")  # reopened, then resolved again: a new rating
            assert "resolved" in await refused(ann.contact_id, 2)
            set_status(database, conversation, "resolved")
            await hub.rate_conversation_async(ann.contact_id, conversation, 2, None)

            stored = ratings(database, conversation)
            assert [private for private, _ in stored] == [False, False]
            assert [payload for _, payload in stored] == [{"score": 4, "comment": "Quick and kind"},
                                                          {"score": 2}]  # no comment: left out

            feed = hub.customer_feed(ann.contact_id, 0)
            seen = []
            while len(seen) < 2:
                event = await asyncio.wait_for(anext(feed), timeout=10)
                if event.type == "conversation.rated":
                    seen.append(event.data)
            assert seen == [{"score": 4, "comment": "Quick and kind"}, {"score": 2, "comment": None}]
            await feed.aclose()  # type: ignore[attr-defined]
        finally:
            await hub.stop()

    asyncio.run(run())


def test_two_ratings_sent_at_once_count_once(hub: Hub, database: Database) -> None:
    """Two tabs rating together: the check and the append are one write-locked transaction (a
    writer op), so the second finds the first's event, whether in the same batch or the next."""
    async def run() -> None:
        await hub.start()
        try:
            ann = chat(hub, "ann", "hello")
            set_status(database, ann.conversation_id, "resolved")
            outcomes = await asyncio.gather(
                *(hub.rate_conversation_async(ann.contact_id, ann.conversation_id, score, None) for score in (5, 1)),
                return_exceptions=True)
            refused = [o for o in outcomes if isinstance(o, RejectedMessage)]
            assert len(refused) == 1 and "rated already" in str(refused[0]), outcomes
            assert len(ratings(database, ann.conversation_id)) == 1
        finally:
            await hub.stop()

    asyncio.run(run())
