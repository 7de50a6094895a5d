"""What the delivery worker hands an adapter (hub.delivery.outbound): the customer's address by the
adapter's `address_kind`, the conversation's thread keys oldest first, a call request as an
`OutboundCall`; and the keys a successful send reports are recorded, so the answer threads back.
On SQLite and PostgreSQL, with the worker's passes run by hand."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from hub.contacts.actions import find_by_identity
from hub.contacts.opt_outs import do_set_opt_out
from hub.conversations.actions import get_conversation
from hub.conversations.calls import do_request_call
from hub.conversations.replies import do_reply
from hub.db import Database
from hub.delivery.worker import DeliveryWorker
from hub.errors import Conflict
from hub.events.models import Event
from hub.ports import ContactRef, InboundMessage, Outbound, OutboundCall, OutboundMessage, PermanentError, SendResult
from hub.runtime import Hub
from tests.factories import create_agent


class Recorder:
    """An adapter that keeps what it is given; replies carry a Message-ID it mints."""

    def __init__(self, channel: str, address_kind: str | None) -> None:
        self.channel, self.address_kind = channel, address_kind
        self.items: list[Outbound] = []

    async def send(self, item: Outbound) -> SendResult:
        self.items.append(item)
        if isinstance(item, OutboundCall):
            return SendResult(provider_id=f"call-{item.outbox_id}", status="queued")
        if not item.to:
            raise PermanentError("nobody to send to")
        return SendResult(provider_id=f"m-{item.outbox_id}", thread_keys=(f"<out-{item.outbox_id}@hub.example>",))


def inbound(channel: str, contact: ContactRef, external_id: str, **fields: object) -> InboundMessage:
    return InboundMessage(channel=channel, source="line-1", ingest_scope=f"{channel}:test", external_id=external_id,
                          contact=contact, text="hello", **fields)  # type: ignore[arg-type]


def deliver(db: Database, adapters: dict[str, Recorder]) -> None:
    worker = DeliveryWorker(db, adapters)  # type: ignore[arg-type]
    while asyncio.run(worker.run_once()):
        pass


def test_a_reply_reaches_the_customers_address_with_the_threads_keys_and_its_own_key_threads_the_answer(
        hub: Hub, database: Database) -> None:
    mail, phone = Recorder("mail", "email"), Recorder("text", "phone")
    agent_id, _ = create_agent(database, "agent")
    first = hub.ingest(inbound("mail", ContactRef(email="Ann@Example.com", phone="+15550002222"), "<a1@x>",
                               own_thread_keys=("<a1@x>",)))
    texted = hub.ingest(inbound("text", ContactRef(phone="+15550002222", email="ann@example.com"), "SM1"))
    with database.write() as s:
        do_reply(s, get_conversation(s, first.conversation_id), agent_id=agent_id, text="first answer")
        do_reply(s, get_conversation(s, texted.conversation_id), agent_id=agent_id, text="by text")
    deliver(database, {"mail": mail, "text": phone})
    [reply] = mail.items
    assert isinstance(reply, OutboundMessage)
    assert (reply.to, reply.thread_keys, reply.text) == ("ann@example.com", ("<a1@x>",), "first answer")
    assert [(m.to, m.thread_keys) for m in phone.items] == [("+15550002222", ())]  # type: ignore[union-attr]
    # The customer answers our reply: In-Reply-To is the Message-ID the adapter minted.
    answer = hub.ingest(inbound("mail", ContactRef(email="ann@example.com"), "<a2@x>",
                                thread_keys=(f"<out-{reply.outbox_id}@hub.example>",)))
    assert answer.conversation_id == first.conversation_id
    with database.write() as s:
        do_reply(s, get_conversation(s, first.conversation_id), agent_id=agent_id, text="second answer")
    deliver(database, {"mail": mail, "text": phone})
    assert mail.items[-1].thread_keys == ("<a1@x>", f"<out-{reply.outbox_id}@hub.example>")  # type: ignore[union-attr]


def test_a_call_request_reaches_the_adapter_as_a_call_with_its_event_and_an_opt_out_refuses_it(
        hub: Hub, database: Database) -> None:
    voice = Recorder("voice-line", "phone")
    agent_id, _ = create_agent(database, "agent")
    first = hub.ingest(inbound("voice-line", ContactRef(phone="+15550003333"), "CA1"))
    with database.write() as s:
        do_request_call(s, get_conversation(s, first.conversation_id), agent_id=agent_id, metadata={"reason": "cb"})
    deliver(database, {"voice-line": voice})
    [call] = voice.items
    assert isinstance(call, OutboundCall)
    assert (call.to, call.source, call.conversation_id, call.metadata["reason"]) == (
        "+15550003333", "line-1", first.conversation_id, "cb")
    with database.read() as s:
        types = list(s.execute(select(Event.type).where(Event.conversation_id == first.conversation_id)).scalars())
    assert "call.requested" in types
    with database.write() as s:
        contact = find_by_identity(s, "phone", "+15550003333")
        assert contact is not None
        do_set_opt_out(s, contact, "voice-line", True, "asked")
    with database.write() as s, pytest.raises(Conflict, match="opted out of messages on this channel"):
        do_request_call(s, get_conversation(s, first.conversation_id), agent_id=agent_id)
    with database.write() as s, pytest.raises(Conflict, match="opted out"):
        do_reply(s, get_conversation(s, first.conversation_id), agent_id=agent_id, text="hello?")
