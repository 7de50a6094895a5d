"""One customer's feed (HubPort.customer_feed, hub.conversations.customer_feed): what a public socket may
send a customer. Only their conversations' messages, the agent's name on assignment, resolved and
reopened: never notes, mentions, routing steps, agents' ids or another customer's events, also
when another customer's conversation holds a message from them. Caught up from the log, then live,
resumable by id. On both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from hub.agents.models import Agent
from hub.conversations.actions import do_add_note, do_assign, do_set_status, get_conversation
from hub.conversations.merge import do_merge
from hub.conversations.replies import do_reply
from hub.conversations.threads import record_keys
from hub.db import Database
from hub.ports import ContactRef, InboundMessage, IngestResult, PublicEvent
from hub.runtime import Hub
from tests.factories import create_agent

EXPECTED_FIELDS = {"id", "direction", "text", "html", "subject", "attachments", "created_at"}


def chat(hub: Hub, who: str, text: str, **fields: Any) -> IngestResult:
    return hub.ingest(InboundMessage(channel="chat", source="site", ingest_scope="chat:site",
                                     external_id=f"{who}-{text}", contact=ContactRef(email=f"{who}@example.com"),
                                     text=text, **fields))


async def take_until(feed: AsyncIterator[PublicEvent], last_text: str) -> list[PublicEvent]:
    """Events up to the customer message with this text (a bounded wait for each)."""
    out: list[PublicEvent] = []
    while True:
        event = await asyncio.wait_for(anext(feed), timeout=10)
        out.append(event)
        if event.type == "message.created" and event.data.get("text") == last_text:
            return out


def summary(events: list[PublicEvent]) -> list[tuple[str, Any]]:
    return [(e.type, e.data.get("text", e.data.get("agent_name"))) for e in events]


def test_a_customer_sees_their_conversation_and_nothing_private_or_anyone_elses(hub: Hub, database: Database) -> None:
    agent_id, _ = create_agent(database, "agent")
    other_agent, _ = create_agent(database, "agent")
    with database.read() as s:
        agent_name = s.get(Agent, agent_id).name  # type: ignore[union-attr]

    async def run() -> None:
        await hub.start()
        try:
            ann = chat(hub, "ann", "hello")
            bob = chat(hub, "bob", "bob here")
            with database.write() as s:
                conv = get_conversation(s, ann.conversation_id)
                do_assign(s, conv, assignee_id=None, team_id=None, actor_agent_id=None, reason="queue",
                          event_type="conversation.requeued")
                do_assign(s, conv, assignee_id=agent_id, team_id=None, actor_agent_id=None, reason="auto")
                do_add_note(s, conv, agent_id=agent_id, text="secret note", mentions=[other_agent])
                do_reply(s, conv, agent_id=agent_id, text="how can I help?")
                do_reply(s, get_conversation(s, bob.conversation_id), agent_id=agent_id, text="hi bob")
                record_keys(s, "chat", ["bob-thread"], bob.conversation_id)
            # Ann writes into Bob's conversation (a key of it): Bob's conversation, not Ann's feed.
            chat(hub, "ann", "into bob's", thread_keys=("bob-thread",))
            chat(hub, "ann", "caught up")

            feed = hub.customer_feed(ann.contact_id, 0)
            caught_up = await take_until(feed, "caught up")
            assert summary(caught_up) == [("message.created", "hello"), ("conversation.assigned", agent_name),
                                          ("message.created", "how can I help?"), ("message.created", "caught up")]
            reply = caught_up[2]
            assert set(reply.data) == EXPECTED_FIELDS | {"agent_name"} and reply.data["agent_name"] == agent_name
            assert set(caught_up[0].data) == EXPECTED_FIELDS
            assert {e.conversation_id for e in caught_up} == {ann.conversation_id}

            # Live: the same rules; a second conversation of Ann's (another entry point) is hers too.
            with database.write() as s:
                conv = get_conversation(s, ann.conversation_id)
                do_add_note(s, conv, agent_id=agent_id, text="another note")
                do_set_status(s, conv, "pending", agent_id=agent_id)
                do_set_status(s, conv, "resolved", agent_id=agent_id)
            chat(hub, "bob", "bob again")
            reopened = chat(hub, "ann", "me again")
            second = hub.ingest(InboundMessage(channel="chat", source="other-site", ingest_scope="chat:site",
                                               external_id="ann-2", contact=ContactRef(email="ann@example.com"),
                                               text="from the other site"))
            live = await take_until(feed, "from the other site")
            assert summary(live) == [("conversation.resolved", None), ("conversation.reopened", None),
                                     ("message.created", "me again"), ("message.created", "from the other site")]
            assert reopened.conversation_id == ann.conversation_id != second.conversation_id
            assert live[-1].conversation_id == second.conversation_id
            await feed.aclose()  # type: ignore[attr-defined]

            # Resuming after an id gives what followed it, once.
            resumed = hub.customer_feed(ann.contact_id, caught_up[-1].id)
            assert summary(await take_until(resumed, "from the other site")) == summary(live)
            await resumed.aclose()  # type: ignore[attr-defined]
            # Bob's feed has Ann's message in his conversation, and nothing of Ann's own.
            bobs = hub.customer_feed(bob.contact_id, 0)
            assert summary(await take_until(bobs, "bob again")) == [
                ("message.created", "bob here"), ("message.created", "hi bob"), ("message.created", "into bob's"),
                ("message.created", "bob again")]
            await bobs.aclose()  # type: ignore[attr-defined]
        finally:
            await hub.stop()

    asyncio.run(run())


def test_a_merge_moves_live_conversations_between_feeds(hub: Hub, database: Database) -> None:
    """Feeds follow merges as they happen: the customer merged into sees the moved conversation's
    new messages live; the one merged away is no longer handed them."""
    agent_id, _ = create_agent(database, "agent")

    async def run() -> None:
        await hub.start()
        try:
            ann, dup = chat(hub, "ann", "hello"), chat(hub, "ann-dup", "me on my other address")
            anns, dups = hub.customer_feed(ann.contact_id, 0), hub.customer_feed(dup.contact_id, 0)
            await take_until(anns, "hello")
            await take_until(dups, "me on my other address")
            with database.write() as s:
                do_merge(s, dup.contact_id, ann.contact_id, actor_agent_id=agent_id)
                do_reply(s, get_conversation(s, dup.conversation_id), agent_id=agent_id, text="found you")
            chat(hub, "ann", "thanks")
            assert summary(await take_until(anns, "thanks")) == [("message.created", "found you"),
                                                                 ("message.created", "thanks")]
            with database.write() as s:
                do_reply(s, get_conversation(s, dup.conversation_id), agent_id=agent_id, text="for ann only")
            # Handed out in the same dispatch as Ann's copy: nothing waits in the other feed's mailbox.
            assert summary(await take_until(anns, "for ann only")) == [("message.created", "for ann only")]
            (dups_mailbox,) = hub.customer_fanout.by_contact[dup.contact_id]
            assert dups_mailbox.events == []
            await anns.aclose()  # type: ignore[attr-defined]
            await dups.aclose()  # type: ignore[attr-defined]
        finally:
            await hub.stop()

    asyncio.run(run())


def test_a_feed_that_falls_behind_reads_the_log_and_loses_nothing(hub: Hub, database: Database) -> None:
    agent_id, _ = create_agent(database, "agent")

    async def run() -> None:
        await hub.start()
        try:
            first = chat(hub, "cy", "hi")
            feed = hub.customer_feed(first.contact_id, 0)
            await take_until(feed, "hi")
            sub = next(iter(hub.customer_fanout.by_contact[first.contact_id]))
            sub.max_pending = 2  # a feed nobody reads for a while: its mailbox overflows
            with database.write() as s:
                for i in range(5):
                    do_reply(s, get_conversation(s, first.conversation_id), agent_id=agent_id, text=f"reply {i}")
            chat(hub, "cy", "done")
            got = await take_until(feed, "done")
            assert [text for _, text in summary(got)] == [f"reply {i}" for i in range(5)] + ["done"]
            await feed.aclose()  # type: ignore[attr-defined]
            assert first.contact_id not in hub.customer_fanout.by_contact  # closed feeds leave the index
            assert first.conversation_id not in hub.customer_fanout.by_conversation
        finally:
            await hub.stop()

    asyncio.run(run())
