"""The API channel: integrators post customer messages with an API key; redelivery is a no-op."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from hub.db import Database
from tests.factories import api_key, inbound, login


def test_inbound_message_creates_contact_conversation_and_is_readable(client: TestClient, db: Database) -> None:
    key = api_key(db)
    result = inbound(client, key, external_id="m-1", email="Jane@Example.com", name="Jane", subject="Refund",
                     text="Where is my refund?")
    assert result["duplicate"] is False
    agent = login(client, db, "supervisor")
    conv = client.get(f"/api/v1/conversations/{result['conversation_id']}", headers=agent.headers).json()
    assert conv["contact"]["email"] == "jane@example.com"
    assert conv["contact"]["name"] == "Jane"
    assert [m["text"] for m in conv["messages"]] == ["Where is my refund?"]
    assert conv["conversation"]["status"] == "open"


def test_redelivery_is_a_noop_returning_the_first_result(client: TestClient, db: Database) -> None:
    key = api_key(db)
    first = inbound(client, key, external_id="same", text="once")
    again = inbound(client, key, external_id="same", text="once")
    assert again["duplicate"] is True
    assert again["message_id"] == first["message_id"]
    agent = login(client, db, "admin")
    messages = client.get(f"/api/v1/conversations/{first['conversation_id']}", headers=agent.headers).json()["messages"]
    assert len(messages) == 1


def test_concurrent_redeliveries_store_one_message(client: TestClient, db: Database) -> None:
    key = api_key(db)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: inbound(client, key, external_id="race", text="x"), range(16)))
    assert len({r["message_id"] for r in results}) == 1
    assert sum(1 for r in results if not r["duplicate"]) == 1


def test_same_customer_continues_the_open_conversation(client: TestClient, db: Database) -> None:
    key = api_key(db)
    a = inbound(client, key, email="bob@example.com", text="first")
    b = inbound(client, key, email="BOB@example.com", text="second")
    assert a["conversation_id"] == b["conversation_id"]
    assert a["contact_id"] == b["contact_id"]


def test_missing_or_wrong_api_key_is_refused_and_stores_nothing(client: TestClient, db: Database) -> None:
    body = {"source": "crm", "external_id": "x", "contact": {"email": "a@b.c"}, "text": "hi"}
    assert client.post("/api/v1/inbound/messages", json=body).status_code == 401
    resp = client.post("/api/v1/inbound/messages", json=body, headers={"X-Api-Key": "hubk_wrong"})
    assert resp.status_code == 401
    assert "API key" in resp.json()["message"]
    agent = login(client, db, "admin")
    assert client.get("/api/v1/conversations", headers=agent.headers).json()["items"] == []


def test_bad_input_gets_a_clear_422(client: TestClient, db: Database) -> None:
    key = api_key(db)
    resp = client.post("/api/v1/inbound/messages", headers={"X-Api-Key": key},
                       json={"source": "crm", "external_id": "x", "contact": {}, "text": "hi"})
    assert resp.status_code == 422
    assert "email, a phone or an external_ref" in resp.json()["message"]
    resp = client.post("/api/v1/inbound/messages", headers={"X-Api-Key": key},
                       json={"source": "crm", "external_id": "x", "contact": {"phone": "not a phone"}, "text": "hi"})
    assert resp.status_code == 422
    assert "phone" in resp.json()["message"]


def test_oversized_body_is_refused_with_a_message(client: TestClient, db: Database) -> None:
    key = api_key(db)
    body = {"source": "crm", "external_id": "big", "contact": {"email": "a@b.c"}, "text": "x" * 2_000_000}
    resp = client.post("/api/v1/inbound/messages", json=body, headers={"X-Api-Key": key})
    assert resp.status_code == 413
    assert "bytes" in resp.json()["message"]
