"""The fake port keeps the hub's promises (hub/ports.py) that adapters rely on, so a channel that
passes against it behaves the same on the real hub (tests/hub/test_thread_keys.py and
test_customer_feed.py hold the hub to the same ones)."""

from __future__ import annotations

import asyncio

from hub.ports import (
    AttachmentRefused,
    AttachmentTooLarge,
    ContactRef,
    Cursor,
    InboundMessage,
    OutboundMessage,
    RejectedMessage,
    SendResult,
)
from tests.fakes.port import FakeHubPort

ADA, BOB = ContactRef(email="ada@example.com"), ContactRef(email="bob@example.com")


def msg(external_id: str, contact: ContactRef = ADA, **fields: object) -> InboundMessage:
    return InboundMessage(channel="echo", source="box", ingest_scope="echo", external_id=external_id,
                          contact=contact, text=external_id, **fields)  # type: ignore[arg-type]


def test_strong_keys_thread_for_anyone_weak_keys_only_for_the_conversations_customer() -> None:
    port = FakeHubPort()
    first = port.ingest(msg("1", own_thread_keys=("<m1>",), weak_thread_keys=("#t1",)))
    port.ingest(msg("w", own_thread_keys=("#t1",)))  # records the weak key for Ada's conversation
    assert port.ingest(msg("2", BOB, thread_keys=("<m1>",))).conversation_id == first.conversation_id
    assert port.ingest(msg("3", BOB, weak_thread_keys=("#t1",))).conversation_id != first.conversation_id
    assert port.ingest(msg("4", weak_thread_keys=("#t1",))).conversation_id == first.conversation_id


def test_a_cursor_moves_with_its_message_a_rejected_message_is_kept_raw_opt_outs_need_a_known_address() -> None:
    port = FakeHubPort()
    port.ingest(msg("1", cursor=Cursor("box", "7")))
    assert port.ingest(msg("1", cursor=Cursor("box", "8"))).created is False
    assert asyncio.run(port.cursor_async("box")) == "8"
    port.fail_next(1, RejectedMessage("a NUL"))
    try:
        port.ingest(msg("2", raw=b"raw mail"))
    except RejectedMessage:
        pass
    assert [(r.reason, r.payload) for r in port.raws] == [("a NUL", b"raw mail")]
    asyncio.run(port.set_opt_out_async("echo", "nobody@example.com", True, "STOP"))
    asyncio.run(port.set_opt_out_async("echo", "ada@example.com", True, "STOP"))
    assert port.opt_outs == {("echo", "ada@example.com"): (True, "STOP")}


def test_a_customers_feed_has_their_messages_and_the_replies_sent_and_nobody_elses() -> None:
    class Echo:
        channel, address_kind = "echo", "email"

        async def send(self, item: OutboundMessage) -> SendResult:
            return SendResult("p-1", thread_keys=("<r1>",))

    async def scenario() -> list[tuple[str, object]]:
        port = FakeHubPort()
        ada = port.ingest(msg("1"))
        port.ingest(msg("2", BOB))
        reply = OutboundMessage(outbox_id=1, message_id=9, conversation_id=ada.conversation_id, channel="echo",
                                source="box", to="ada@example.com", text="hi Ada")
        await port.send(Echo(), reply)  # type: ignore[arg-type]
        feed = port.customer_feed(ada.contact_id, 0)
        seen = [await anext(feed), await anext(feed)]
        port.ingest(msg("3", thread_keys=("<r1>",)))  # answers the reply: live, in Ada's conversation
        seen.append(await anext(feed))
        return [(e.data["direction"], e.data["text"]) for e in seen]

    assert asyncio.run(scenario()) == [("in", "1"), ("out", "hi Ada"), ("in", "3")]


def test_a_file_kept_for_a_message_is_read_back_and_one_over_the_limit_is_refused() -> None:
    port = FakeHubPort(attachment_max_bytes=10)
    kept = asyncio.run(port.store_attachment_async(b"a picture", "image/png", None, cid="<logo@mail>"))
    assert (kept.filename, kept.cid, kept.size) == ("attachment-1", "logo@mail", 9)
    assert asyncio.run(port.open_attachment_async(kept)) == b"a picture"
    try:
        asyncio.run(port.store_attachment_async(b"x" * 11, None, "big.bin"))
        raise AssertionError("a file over the limit was kept")
    except AttachmentTooLarge as exc:
        assert exc.max_bytes == 10


def test_a_queue_place_is_asked_until_an_agent_takes_the_conversation_and_the_feed_says_who() -> None:
    async def scenario() -> tuple[object, object, str, object]:
        port = FakeHubPort()
        ada = port.ingest(msg("1"))
        port.queue_for(ada.conversation_id, 2, 240.0)
        waiting = await port.queue_status_async(ada.conversation_id)
        port.assign(ada.conversation_id, "Ana")
        feed = port.customer_feed(ada.contact_id, 1)
        joined = await anext(feed)
        return (waiting.position if waiting else None, waiting.wait_seconds if waiting else None, joined.type,
                await port.queue_status_async(ada.conversation_id))

    assert asyncio.run(scenario()) == (2, 240.0, "conversation.assigned", None)


def test_what_a_customer_saw_moves_forward_only_and_only_in_a_conversation_the_hub_knows() -> None:
    async def scenario() -> dict[int, int]:
        port = FakeHubPort()
        ada = port.ingest(msg("1"))
        for conversation_id, upto in ((ada.conversation_id, 5), (ada.conversation_id, 3), (999, 9)):
            await port.customer_read_async(conversation_id, upto)
        return port.customer_reads

    assert asyncio.run(scenario()) == {1: 5}


def test_a_file_of_a_type_the_channel_does_not_take_is_refused_before_it_is_kept() -> None:
    port = FakeHubPort()
    try:
        asyncio.run(port.store_attachment_async(b"<svg/>", "image/svg+xml", "a.svg", accept=frozenset({"image/png"})))
        raise AssertionError("a refused type was kept")
    except AttachmentRefused as exc:
        assert exc.content_type == "image/svg+xml"
    assert port.files == {}


def test_a_customer_rates_their_resolved_conversation_once_and_the_feed_shows_it() -> None:
    async def scenario() -> list[tuple[str, dict[str, object]]]:
        port = FakeHubPort()
        ada, bob = port.ingest(msg("1")), port.ingest(msg("2", BOB))
        refusals = []
        for contact_id in (ada.contact_id, bob.contact_id):  # not resolved yet; not Bob's
            if contact_id == bob.contact_id:
                port.resolve(ada.conversation_id)
            try:
                await port.rate_conversation_async(contact_id, ada.conversation_id, 5, None)
            except RejectedMessage as exc:
                refusals.append(str(exc))
        assert len(refusals) == 2
        await port.rate_conversation_async(ada.contact_id, ada.conversation_id, 5, "great")
        try:
            await port.rate_conversation_async(ada.contact_id, ada.conversation_id, 1, None)
            raise AssertionError("rated twice for one resolution")
        except RejectedMessage:
            pass
        feed = port.customer_feed(ada.contact_id, 1)
        return [(e.type, e.data) for e in [await anext(feed), await anext(feed)]]

    assert asyncio.run(scenario()) == [("conversation.resolved", {}),
                                       ("conversation.rated", {"score": 5, "comment": "great"})]
