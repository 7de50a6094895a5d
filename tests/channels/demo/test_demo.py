"""The demo channel: replies to `hub demo`'s customers are delivered at once and answered."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from channels.demo.adapter import CUSTOMER_LINES, DemoChannel
from config.demo import DEMO_PASSWORD, load_demo
from hub.contacts.models import Contact
from hub.conversations.models import Conversation, Message
from hub.db import Database
from hub.ports import ContactRef, OutboundMessage, PermanentError
from tests.conftest import wait_for
from tests.fakes.port import FakeHubPort, FakeTaskRunner

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def messages(db: Database, conversation_id: int) -> list[Message]:
    with db.read() as s:
        return list(s.execute(select(Message).where(Message.conversation_id == conversation_id)
                              .order_by(Message.id)).scalars())  # type: ignore[arg-type]


def conversation_of(db: Database, email: str) -> Conversation:
    with db.read() as s:
        return s.execute(select(Conversation).join(Contact, Contact.id == Conversation.contact_id)  # type: ignore[arg-type]
                         .where(Contact.email == email)).scalar_one()


def test_a_reply_to_a_demo_customer_is_delivered_and_answered(client: TestClient, db: Database) -> None:
    load_demo(db)
    token = client.post("/api/v1/auth/login", json={"email": "ana@demo.example", "password": DEMO_PASSWORD}).json()[
        "token"]
    h = {"Authorization": f"Bearer {token}"}
    bob = conversation_of(db, "bob@customer.example")
    assert bob.channel == "demo" and bob.id is not None
    resp = client.post(f"/api/v1/conversations/{bob.id}/messages", json={"text": "Yes, 10 to 4."}, headers=h)
    assert resp.status_code == 201, resp.text
    reply_id = resp.json()["id"]

    def answered() -> list[Message]:
        after = [m for m in messages(db, bob.id) if m.id > reply_id]  # type: ignore[arg-type, operator]
        return after if after and after[0].direction == "in" else []

    [answer] = wait_for(answered, what="the demo customer's answer")
    assert answer.text in CUSTOMER_LINES and answer.contact_id == bob.contact_id
    [reply] = [m for m in messages(db, bob.id) if m.id == reply_id]  # type: ignore[arg-type]
    assert reply.delivery_status == "delivered"
    # The reply `hub demo` wrote to Alice went out when the hub started, and she answered too.
    alice = conversation_of(db, "alice@customer.example").id
    assert alice is not None
    assert wait_for(lambda: [m for m in messages(db, alice) if m.direction == "in" and m.text in CUSTOMER_LINES],
                    what="Alice's answer")


def outbound(outbox_id: int, contact_id: object = 7) -> OutboundMessage:
    return OutboundMessage(outbox_id=outbox_id, message_id=1, conversation_id=3, channel="demo", source="demo",
                           to="", text="hello", metadata={"contact_id": contact_id})


def test_the_demo_customer_answers_once_in_the_same_conversation_and_a_stranger_is_refused() -> None:
    async def run() -> FakeHubPort:
        hub = FakeHubPort()
        channel = DemoChannel(lambda cid: ContactRef(email="c@x.example") if cid == 7 else None, answer_after=0)
        await channel.start(hub, FakeTaskRunner())
        result = await channel.send(outbound(5))
        assert (result.provider_id, result.status, result.thread_keys) == ("demo-5", "delivered", ("reply-5",))
        with pytest.raises(PermanentError):
            await channel.send(outbound(6, contact_id=8))
        with pytest.raises(PermanentError):
            await channel.send(outbound(6, contact_id=None))
        while channel._tasks:
            await asyncio.wait(set(channel._tasks))
        return hub

    hub = asyncio.run(run())
    [msg] = hub.ingested
    assert (msg.channel, msg.thread_keys, msg.contact.email, msg.external_id) == (
        "demo", ("reply-5",), "c@x.example", "answer-5")


def test_stopping_the_channel_drops_answers_not_yet_given() -> None:
    async def run() -> FakeHubPort:
        hub = FakeHubPort()
        channel = DemoChannel(lambda cid: ContactRef(email="c@x.example"), answer_after=60)
        await channel.start(hub, FakeTaskRunner())
        await channel.send(outbound(9))
        await channel.stop()
        return hub

    assert asyncio.run(run()).ingested == []


def test_demo_conversations_wait_in_their_teams_until_routing_gives_them_to_an_agent_online(
    client: TestClient, db: Database
) -> None:
    load_demo(db)
    token = client.post("/api/v1/auth/login", json={"email": "ben@demo.example", "password": DEMO_PASSWORD}).json()[
        "token"]
    h = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/agents/me", headers=h).json()
    assert client.get("/api/v1/conversations?view=mine", headers=h).json()["items"] == []
    assert len(client.get("/api/v1/conversations?view=teams", headers=h).json()["items"]) == 2  # Sales
    client.post("/api/v1/agents/me/presence", json={"presence": "online"}, headers=h)

    def mine() -> list[dict[str, object]]:
        return client.get("/api/v1/conversations?view=mine", headers=h).json()["items"]  # type: ignore[no-any-return]

    def names() -> set[object]:
        return {r["contact_name"] for r in mine()}

    # His team's queue, and the shared inbox's conversation; never Support's.
    wait_for(lambda: names() == {"Dan Okafor", "Eva Novak", "Finn Berg"}, what="routing to give Ben his work")
    assert all(r["assignee_id"] == me["id"] for r in mine())
