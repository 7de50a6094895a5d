"""Contacts: search, one contact with identities and conversations, and the one timeline across channels."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from hub.conversations import actions as conv_actions
from hub.db import Database
from hub.ports import ContactRef, InboundMessage
from tests.factories import api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def sms_in(client: TestClient, phone: str, text: str) -> int:
    """A text message from a customer, through the hub's port as the SMS adapter hands it over."""
    result = client.app.state.hub.ingest(InboundMessage(  # type: ignore[attr-defined]
        channel="sms", source="+15550009999", ingest_scope="twilio", external_id=f"SM{uuid.uuid4().hex}",
        contact=ContactRef(phone=phone), text=text))
    return int(result.conversation_id)


def move(db: Database, conversation_id: int, *, team_id: int | None) -> None:
    with db.write() as s:
        conv_actions.do_assign(s, conv_actions.get_conversation(s, conversation_id), assignee_id=None,
                               team_id=team_id, actor_agent_id=None, reason="test")


def test_search_by_name_email_or_phone(client: TestClient, db: Database) -> None:
    key = api_key(db)
    alice = inbound(client, key, email="alice@example.com", name="Alice Martin")["contact_id"]
    bob = inbound(client, key, email="bob@shop.example", phone="+14155550101", name="Bob Lee")["contact_id"]
    agent = login(client, db, "agent")

    def found(q: str) -> list[int]:
        resp = client.get("/api/v1/contacts", params={"q": q}, headers=agent.headers)
        assert resp.status_code == 200, resp.text
        return [c["id"] for c in resp.json()["items"]]

    assert found("martin") == [alice]
    assert found("ALICE@") == [alice]
    assert found("shop.example") == [bob]
    assert found("555010") == [bob]
    assert found("nobody") == []
    # Listing every customer at once is for supervisors.
    sup = login(client, db, "supervisor")
    everyone = client.get("/api/v1/contacts", headers=sup.headers).json()["items"]
    assert [c["id"] for c in everyone] == [bob, alice]
    assert everyone[0]["phone"] == "+14155550101"
    assert [c["id"] for c in client.get("/api/v1/contacts?limit=1", headers=sup.headers).json()["items"]] == [bob]


def test_a_contact_with_identities_and_conversations(client: TestClient, db: Database) -> None:
    key = api_key(db)
    mine, other = create_team(db), create_team(db)
    first = inbound(client, key, email="carol@example.com", phone="+14155550102", name="Carol Diaz")
    contact_id = first["contact_id"]
    sms_conv = sms_in(client, "+1 415 555 0102", "parcel damaged")
    move(db, int(first["conversation_id"]), team_id=other)
    move(db, sms_conv, team_id=mine)
    agent = login(client, db, "agent", teams=[mine])
    sup = login(client, db, "supervisor")

    body = client.get(f"/api/v1/contacts/{contact_id}", headers=sup.headers).json()
    assert body["name"] == "Carol Diaz"
    assert body["email"] == "carol@example.com"
    assert body["phone"] == "+14155550102"
    assert {(i["kind"], i["address"]) for i in body["identities"]} == {
        ("email", "carol@example.com"), ("phone", "+14155550102")}
    assert [(c["id"], c["channel"]) for c in body["conversations"]] == [
        (sms_conv, "sms"), (first["conversation_id"], "api")]
    # A plain agent sees the whole relationship, other teams' conversations included (the default,
    # `company` visibility; tests/agents_ui/test_visibility.py has `team`).
    body = client.get(f"/api/v1/contacts/{contact_id}", headers=agent.headers).json()
    assert [c["id"] for c in body["conversations"]] == [sms_conv, first["conversation_id"]]


def test_the_timeline_spans_channels_and_conversations_newest_first(client: TestClient, db: Database) -> None:
    key = api_key(db)
    first = inbound(client, key, email="dan@example.com", phone="+14155550103", text="web form question")
    contact_id = first["contact_id"]
    api_conv = int(first["conversation_id"])
    agent = login(client, db, "agent")
    client.post(f"/api/v1/conversations/{api_conv}/notes", json={"text": "asked twice already"},
                headers=agent.headers)
    client.post(f"/api/v1/conversations/{api_conv}/messages", json={"text": "answer by API"}, headers=agent.headers)
    client.post(f"/api/v1/conversations/{api_conv}/status", json={"status": "resolved"}, headers=agent.headers)
    sms_conv = sms_in(client, "+14155550103", "and by text")
    # Another customer's history never shows up here.
    inbound(client, key, email="someone.else@example.com", text="not Dan")

    resp = client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=agent.headers)
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    assert {i["contact_id"] for i in items} == {contact_id}
    assert {i["conversation_id"] for i in items} == {api_conv, sms_conv}
    story = [(i["type"], (i["data"].get("message") or {}).get("text")) for i in reversed(items)
             if i["type"] in ("message.created", "note.created", "conversation.status_changed",
                              "conversation.created")]
    assert story == [
        ("conversation.created", None),
        ("message.created", "web form question"),
        ("note.created", "asked twice already"),
        ("message.created", "answer by API"),
        ("conversation.status_changed", None),
        ("conversation.created", None),
        ("message.created", "and by text"),
    ]
    note = next(i for i in items if i["type"] == "note.created")
    assert note["private"] is True
    assert note["actor_agent_id"] == agent.id
    assert {i["data"]["message"]["channel"] for i in items if i["type"] == "message.created"} == {"api", "sms"}


def test_the_timeline_pages_backwards_without_gaps_or_repeats(client: TestClient, db: Database) -> None:
    key = api_key(db)
    contact_id = inbound(client, key, email="eve@example.com", text="m0")["contact_id"]
    for i in range(1, 6):
        inbound(client, key, email="eve@example.com", text=f"m{i}")
    agent = login(client, db, "agent")
    everything = client.get(f"/api/v1/contacts/{contact_id}/timeline?limit=200", headers=agent.headers).json()
    assert everything["next_before"] is None
    assert len(everything["items"]) == 7  # conversation.created and six messages

    seen: list[int] = []
    before = None
    pages = 0
    while True:
        url = f"/api/v1/contacts/{contact_id}/timeline?limit=3" + (f"&before={before}" if before else "")
        page = client.get(url, headers=agent.headers).json()
        pages += 1
        assert len(page["items"]) <= 3
        seen += [i["id"] for i in page["items"]]
        before = page["next_before"]
        if before is None:
            break
        assert before == page["items"][-1]["id"]
    assert seen == [i["id"] for i in everything["items"]]
    assert pages == 3


def test_the_timeline_shows_the_whole_relationship_to_any_agent(client: TestClient, db: Database) -> None:
    """DESIGN.md: "anyone in the company who opens the customer sees the whole relationship", the
    conversation itself included (the default, `company` visibility)."""
    key = api_key(db)
    other = create_team(db)
    first = inbound(client, key, email="fay@example.com", text="billing dispute")
    move(db, int(first["conversation_id"]), team_id=other)
    agent = login(client, db, "agent")
    texts = [(i["data"].get("message") or {}).get("text") for i in client.get(
        f"/api/v1/contacts/{first['contact_id']}/timeline", headers=agent.headers).json()["items"]]
    assert "billing dispute" in texts
    assert client.get(f"/api/v1/conversations/{first['conversation_id']}", headers=agent.headers).status_code == 200


def test_unknown_contacts_are_a_404_and_anonymous_callers_a_401(client: TestClient, db: Database) -> None:
    key = api_key(db)
    contact_id = inbound(client, key)["contact_id"]
    agent = login(client, db, "agent")
    for url in ("/api/v1/contacts/424242", "/api/v1/contacts/424242/timeline"):
        resp = client.get(url, headers=agent.headers)
        assert resp.status_code == 404
        assert resp.json()["message"] == "contact 424242 does not exist"
    for url in ("/api/v1/contacts", f"/api/v1/contacts/{contact_id}", f"/api/v1/contacts/{contact_id}/timeline"):
        assert client.get(url).status_code == 401
