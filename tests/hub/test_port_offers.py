"""What the port offers channels besides ingest (hub.ports.HubPort): cursors stored with the
messages they cover, raw payloads kept for what fails, channel-neutral opt-outs. On both databases."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from sqlalchemy import select

from hub.conversations.actions import get_conversation
from hub.conversations.replies import do_reply
from hub.db import Database
from hub.errors import Conflict
from hub.events.models import Event
from hub.ports import ContactRef, Cursor, FileToKeep, InboundMessage, RawPayload, RejectedMessage
from hub.raw_payloads import KeptPayload, list_raw
from hub.runtime import Hub
from tests.factories import create_agent

_seq = itertools.count(1)


class Addressed:
    """An adapter stub: what the hub asks of a registered channel for opt-outs."""

    def __init__(self, channel: str, address_kind: str | None) -> None:
        self.channel, self.address_kind = channel, address_kind

    async def send(self, item: Any) -> Any:
        raise AssertionError("not sent in these tests")


def fetched(email: str, cursor: str | None, **fields: Any) -> InboundMessage:
    return InboundMessage(channel="mail", source="inbox", ingest_scope="mail:inbox", external_id=f"uid-{next(_seq)}",
                          contact=ContactRef(email=email), text=fields.pop("text", "hello"),
                          cursor=Cursor("mail:inbox", cursor) if cursor is not None else None, **fields)


def test_a_cursor_advances_with_its_message_and_a_failed_ingest_leaves_it_where_it_was(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        assert await hub.cursor_async("mail:inbox") is None
        await hub.ingest_async(fetched("ann@example.com", "7:100"))
        assert await hub.cursor_async("mail:inbox") == "7:100"

        def failing_route(session: Any, conv: Any, **kw: Any) -> None:
            raise RuntimeError("the database went away mid-transaction")

        with monkeypatch.context() as m:  # a new conversation is routed inside the ingest transaction
            m.setattr(hub.router, "decide", failing_route)
            with pytest.raises(RuntimeError):
                await hub.ingest_async(fetched("bob@example.com", "7:101"))
        assert await hub.cursor_async("mail:inbox") == "7:100"
        # A fetch that covered nothing to ingest moves it on its own; a redelivery moves it too.
        await hub.set_cursor_async(Cursor("mail:inbox", "7:105"))
        assert await hub.cursor_async("mail:inbox") == "7:105"
        again = fetched("ann@example.com", "7:106")
        await hub.ingest_async(again)
        await hub.ingest_async(InboundMessage(**{**again.__dict__, "cursor": Cursor("mail:inbox", "7:107")}))
        assert await hub.cursor_async("mail:inbox") == "7:107"

    asyncio.run(run())


def test_a_rejected_message_keeps_its_raw_payload_and_the_channel_still_gets_the_rejection(
        hub: Hub, database: Database) -> None:
    raw = b"From: nobody\r\nSubject: \x00broken\r\n\r\nbody"
    bad = fetched("not an address", None, raw=raw, raw_content_type="message/rfc822")
    with pytest.raises(RejectedMessage):
        asyncio.run(hub.ingest_async(bad))
    with pytest.raises(RejectedMessage):
        hub.ingest(fetched("ann@example.com", None, text="nul \x00", raw=b"x"))
    hub.ingest(fetched("ann@example.com", None, raw=b"fine"))  # accepted: nothing kept
    with database.read() as s:
        rows = list(s.execute(select(KeptPayload).order_by(KeptPayload.id)).scalars())  # type: ignore[arg-type]
    assert [(r.channel, r.external_id, r.content_type, r.payload) for r in rows] == [
        ("mail", bad.external_id, "message/rfc822", raw),
        ("mail", rows[1].external_id, "application/octet-stream", b"x")]
    assert rows[0].reason.startswith("rejected: contact.email") and "NUL" in rows[1].reason


def test_kept_payloads_are_capped_flagged_and_listed_newest_first_without_their_bytes(hub: Hub,
                                                                                      database: Database) -> None:
    hub.options.raw_payload_max_bytes = 1024
    asyncio.run(hub.keep_raw_async(RawPayload("mail", "inbox", "no From header", b"a" * 5000, "message/rfc822",
                                              external_id="uid-1")))
    asyncio.run(hub.keep_raw_async(RawPayload("mail", "inbox", "bad charset\x00", b"b", "text/html")))
    with database.read() as s:
        page = list_raw(s, before_id=None, limit=1)
        older = list_raw(s, before_id=page[0]["id"], limit=10)
        first = s.get(KeptPayload, older[0]["id"])
        assert first is not None and len(first.payload) == 1024
    assert page[0]["content_type"] == "application/octet-stream" and "payload" not in page[0]
    assert page[0]["reason"] == "bad charset\ufffd"
    assert (older[0]["size"], older[0]["truncated"], older[0]["external_id"]) == (5000, True, "uid-1")


def test_keeping_a_payload_never_raises_to_the_channel(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(hub, "_keep_raw", broken)
    asyncio.run(hub.keep_raw_async(RawPayload("mail", "inbox", "why", b"x")))  # logged, not raised


def test_an_opt_out_is_per_channel_refuses_replies_there_in_neutral_words_and_is_an_event(
        hub: Hub, database: Database) -> None:
    hub.register_adapter(Addressed("text", "phone"))  # type: ignore[arg-type]
    hub.register_adapter(Addressed("chat", None))  # type: ignore[arg-type]
    agent_id, _ = create_agent(database, "agent")
    ref = ContactRef(phone="+15550004444")
    texted = hub.ingest(InboundMessage(channel="text", source="n", ingest_scope="t", external_id="1", contact=ref,
                                       text="STOP"))
    other = hub.ingest(InboundMessage(channel="mail", source="n", ingest_scope="t", external_id="2", contact=ref,
                                      text="still here"))

    async def run() -> None:
        await hub.set_opt_out_async("text", "+1 555 000 4444", True, "STOP")  # normalized as phones are
        await hub.set_opt_out_async("text", "+15550004444", True, "STOP")  # no change: no second event
        await hub.set_opt_out_async("text", "+15559999999", True, "STOP")  # nobody: nothing
        with pytest.raises(Exception, match="addresses nobody"):
            await hub.set_opt_out_async("chat", "visitor-1", True, "why")

    asyncio.run(run())
    with database.write() as s, pytest.raises(Conflict) as refused:
        do_reply(s, get_conversation(s, texted.conversation_id), agent_id=agent_id, text="hi")
    assert refused.value.message == ("this customer opted out of messages on this channel; a reply can reach "
                                     "them here only after they opt back in")
    with database.write() as s:
        do_reply(s, get_conversation(s, other.conversation_id), agent_id=agent_id, text="by mail")  # not opted out
    asyncio.run(hub.set_opt_out_async("text", "+15550004444", False, "START"))
    with database.write() as s:
        do_reply(s, get_conversation(s, texted.conversation_id), agent_id=agent_id, text="welcome back")
    with database.read() as s:
        payloads = [e.payload for e in s.execute(select(Event).where(Event.type == "contact.opt_out_changed")
                                                 .order_by(Event.id)).scalars()]  # type: ignore[arg-type]
    assert [(p["channel"], p["opted_out"], p["reason"]) for p in payloads] == [("text", True, "STOP"),
                                                                              ("text", False, "START")]


def test_a_hub_that_keeps_no_files_says_so_for_each_of_a_messages_files(hub: Hub) -> None:
    kept = asyncio.run(hub.keep_files_async([FileToKeep(b"%PDF-1.7\n", "application/pdf", "a.pdf"),
                                             FileToKeep(b"From: a@b\r\n\r\nhi", None, "original.eml",
                                                        whole_message=True)]))
    assert [type(k) for k in kept] == [RejectedMessage, RejectedMessage]
    assert all("keeps no files" in str(k) for k in kept)
    assert asyncio.run(hub.keep_files_async([])) == []
