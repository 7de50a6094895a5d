"""Read receipts both ways (issue 16), on SQLite and PostgreSQL: the first agent to read the
visitor's message tells the visitor ("Seen"); the visitor's widget reports the replies it showed,
and agents get it as an event of that conversation. Once each, and only for the visitor's own
conversations."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from config.settings import Settings
from hub.db import Database
from tests.channels.webchat.test_socket import SHOP, first_words
from tests.conftest import make_settings, wait_for
from tests.factories import AgentLogin, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, secret_key="test-hub-key",
                         webchat={"widgets": [{"id": "shop", "allowed_origins": [SHOP]}]})


def receipts(db: Database, kind: str) -> list[tuple[int, int]]:
    with db.read() as s:
        rows = s.execute(text("SELECT id, conversation_id FROM events WHERE type = :t ORDER BY id"),
                         {"t": f"receipt.{kind}"}).all()
    return [(int(r[0]), int(r[1])) for r in rows]


def test_the_visitor_learns_an_agent_read_their_message_once(
        client: TestClient, db: Database, visit: Any) -> None:
    visitor = visit()
    conversation = first_words(visitor, db, "can you see this?", "receipt-in-1")
    ana, bob = login(client, db, "supervisor"), login(client, db, "supervisor")
    assert client.post(f"/api/v1/conversations/{conversation}/read", headers=ana.headers).status_code == 200
    seen = visitor.event_where(lambda f: f["event"] == "receipt.agent_read")
    last_in = max(f["data"]["id"] for f in visitor.events if f["event"] == "message.created")
    assert seen["data"] == {"upto_message_id": last_in} and seen["conversation_id"] == conversation
    # Reading again, or a colleague reading what was read already, tells the visitor nothing new.
    for who in (ana, bob):
        assert client.post(f"/api/v1/conversations/{conversation}/read", headers=who.headers).status_code == 200
    assert len(receipts(db, "agent_read")) == 1
    ack = visitor.say("and this one?", "receipt-in-2")
    client.post(f"/api/v1/conversations/{conversation}/read", headers=bob.headers)
    again = visitor.event_where(lambda f: f["event"] == "receipt.agent_read" and f["id"] != seen["id"])
    assert again["data"]["upto_message_id"] == ack["message_id"]


def test_agents_learn_the_visitor_saw_their_reply_once_and_forged_ids_are_ignored(
        client: TestClient, db: Database, visit: Any) -> None:
    other = visit()
    elsewhere = first_words(other, db, "someone else's chat", "receipt-other-1")
    visitor = visit()
    conversation = first_words(visitor, db, "hello?", "receipt-out-1")
    admin: AgentLogin = login(client, db, "admin")
    reply = client.post(f"/api/v1/conversations/{conversation}/messages", headers=admin.headers,
                        json={"text": "Hi, how can I help?"}).json()
    visitor.event_where(lambda f: f["data"].get("id") == reply["id"])

    with client.websocket_connect("/ws/agent", headers=admin.headers) as agent:
        agent.send_json({"type": "resume", "last_event_id": 0})
        while agent.receive_json()["type"] != "ready":
            pass  # a live event (the reply's delivery) may come first
        # Another visitor's conversation is not theirs to mark; the frame is dropped quietly.
        visitor.ws.send_json({"type": "seen", "conversation_id": elsewhere, "upto": reply["id"]})
        visitor.ws.send_json({"type": "seen", "conversation_id": conversation, "upto": reply["id"]})
        visitor.ws.send_json({"type": "seen", "conversation_id": conversation, "upto": reply["id"]})
        while (frame := agent.receive_json()).get("type") != "receipt.customer_read":
            pass
        assert frame["conversation_id"] == conversation and frame["data"] == {"upto_message_id": reply["id"]}
    wait_for(lambda: receipts(db, "customer_read"), what="the receipt stored")
    visitor.ws.send_json({"type": "ping"})
    visitor.next("pong")
    assert [c for _, c in receipts(db, "customer_read")] == [conversation]
    # The console reads it with the conversation too.
    page = client.get(f"/api/v1/conversations/{conversation}", headers=admin.headers).json()
    assert [e["data"] for e in page["events"] if e["type"] == "receipt.customer_read"] == [
        {"upto_message_id": reply["id"]}]
