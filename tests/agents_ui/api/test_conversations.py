"""Conversations through the JSON API: list and filter, read, reply, internal notes, status, assignment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.conversations import actions as conv_actions
from hub.db import Database
from hub.events.models import Event
from hub.outbox.models import OutboxItem
from hub.ports import ContactRef, InboundMessage
from tests.factories import api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def ingest(client: TestClient, *, channel: str, source: str, email: str | None = None, phone: str | None = None,
           text: str = "Hello") -> int:
    """A customer message on any channel, straight through the hub's port (as a channel adapter would)."""
    result = client.app.state.hub.ingest(InboundMessage(  # type: ignore[attr-defined]
        channel=channel, source=source, ingest_scope=f"{channel}:{source}", external_id=uuid.uuid4().hex,
        contact=ContactRef(email=email, phone=phone), text=text))
    return int(result.conversation_id)


def move(db: Database, conversation_id: int, *, team_id: int | None, assignee_id: int | None = None) -> None:
    with db.write() as s:
        conv_actions.do_assign(s, conv_actions.get_conversation(s, conversation_id), assignee_id=assignee_id,
                               team_id=team_id, actor_agent_id=None, reason="test")


def ids(resp: object) -> list[int]:
    body = resp.json()  # type: ignore[attr-defined]
    return [c["id"] for c in body["items"]]


def events_of(db: Database, conversation_id: int) -> list[Event]:
    with db.read() as s:
        return list(s.execute(select(Event).where(Event.conversation_id == conversation_id)
                              .order_by(Event.id)).scalars())  # type: ignore[arg-type]


def outbox_of(db: Database, conversation_id: int) -> list[OutboxItem]:
    with db.read() as s:
        return list(s.execute(select(OutboxItem).where(OutboxItem.conversation_id == conversation_id)).scalars())


def test_list_is_newest_first_and_filters_by_status_assignee_team_channel_and_contact(
    client: TestClient, db: Database
) -> None:
    key = api_key(db)
    support, sales = create_team(db), create_team(db)
    sup = login(client, db, "supervisor")
    a = int(inbound(client, key, email="a@example.com")["conversation_id"])
    b = int(inbound(client, key, email="b@example.com")["conversation_id"])
    c = ingest(client, channel="sms", source="+15550001111", phone="+15557654321")
    d = ingest(client, channel="email", source="support@acme.example", email="a@example.com")
    move(db, a, team_id=support, assignee_id=sup.id)
    move(db, b, team_id=sales)
    client.post(f"/api/v1/conversations/{b}/status", json={"status": "resolved"}, headers=sup.headers)

    h = sup.headers
    assert ids(client.get("/api/v1/conversations", headers=h)) == [d, c, b, a]
    assert ids(client.get("/api/v1/conversations?status=resolved", headers=h)) == [b]
    assert ids(client.get("/api/v1/conversations?status=open", headers=h)) == [d, c, a]
    assert ids(client.get("/api/v1/conversations?status=snoozed", headers=h)) == []
    assert ids(client.get("/api/v1/conversations?assignee=me", headers=h)) == [a]
    assert ids(client.get(f"/api/v1/conversations?assignee={sup.id}", headers=h)) == [a]
    assert ids(client.get("/api/v1/conversations?assignee=none", headers=h)) == [d, c, b]
    assert ids(client.get(f"/api/v1/conversations?team_id={sales}", headers=h)) == [b]
    assert ids(client.get("/api/v1/conversations?channel=sms", headers=h)) == [c]
    assert ids(client.get("/api/v1/conversations?channel=api", headers=h)) == [b, a]
    contact_a = client.get(f"/api/v1/conversations/{a}", headers=h).json()["contact"]["id"]
    assert ids(client.get(f"/api/v1/conversations?contact_id={contact_a}", headers=h)) == [d, a]
    # Filters combine.
    assert ids(client.get(f"/api/v1/conversations?channel=api&status=open&team_id={support}", headers=h)) == [a]


def test_list_pages_with_before_and_next_before(client: TestClient, db: Database) -> None:
    key = api_key(db)
    convs = [int(inbound(client, key, email=f"p{i}@example.com")["conversation_id"]) for i in range(5)]
    sup = login(client, db, "supervisor")
    seen: list[int] = []
    before = None
    while True:
        url = "/api/v1/conversations?limit=2" + (f"&before={before}" if before else "")
        page = client.get(url, headers=sup.headers).json()
        seen += [c["id"] for c in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == sorted(convs, reverse=True)


def test_plain_agents_list_their_teams_their_own_and_the_shared_inbox(client: TestClient, db: Database) -> None:
    key = api_key(db)
    mine, other = create_team(db), create_team(db)
    agent = login(client, db, "agent", teams=[mine])
    sup = login(client, db, "supervisor")
    shared = int(inbound(client, key, email="shared@example.com")["conversation_id"])
    in_my_team = int(inbound(client, key, email="mine@example.com")["conversation_id"])
    in_other_team = int(inbound(client, key, email="other@example.com")["conversation_id"])
    assigned_to_me_elsewhere = int(inbound(client, key, email="elsewhere@example.com")["conversation_id"])
    move(db, in_my_team, team_id=mine)
    move(db, in_other_team, team_id=other)
    move(db, assigned_to_me_elsewhere, team_id=other, assignee_id=agent.id)

    visible = ids(client.get("/api/v1/conversations", headers=agent.headers))
    assert visible == [assigned_to_me_elsewhere, in_my_team, shared]
    assert in_other_team not in visible
    # Filtering on another team does not reveal it either.
    assert ids(client.get(f"/api/v1/conversations?team_id={other}", headers=agent.headers)) == [
        assigned_to_me_elsewhere]
    assert ids(client.get("/api/v1/conversations", headers=sup.headers)) == [
        assigned_to_me_elsewhere, in_other_team, in_my_team, shared]


def test_read_one_conversation_with_its_contact_and_messages_in_order(client: TestClient, db: Database) -> None:
    key = api_key(db)
    first = inbound(client, key, email="reader@example.com", name="Rea Der", subject="Order 42", text="one")
    inbound(client, key, email="reader@example.com", text="two")
    agent = login(client, db, "agent")
    conv_id = first["conversation_id"]
    client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "checking"}, headers=agent.headers)
    client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "three"}, headers=agent.headers)

    body = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()
    assert body["conversation"]["id"] == conv_id
    assert body["conversation"]["subject"] == "Order 42"
    assert body["conversation"]["channel"] == "api"
    assert body["contact"]["name"] == "Rea Der"
    assert [(m["direction"], m["text"]) for m in body["messages"]] == [
        ("in", "one"), ("in", "two"), ("note", "checking"), ("out", "three")]
    assert body["messages"][3]["author_agent_id"] == agent.id


def test_reply_is_stored_logged_and_put_in_the_outbox(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key, email="r@example.com")["conversation_id"])
    agent = login(client, db, "agent")
    resp = client.post(f"/api/v1/conversations/{conv_id}/messages",
                       json={"text": "Hi, on it", "html": "<p onclick='x()'>Hi, <b>on it</b></p>"},
                       headers=agent.headers)
    assert resp.status_code == 201, resp.text
    msg = resp.json()
    assert msg["direction"] == "out"
    assert msg["text"] == "Hi, on it"
    assert msg["author_agent_id"] == agent.id
    assert "onclick" not in msg["html"] and "<b>on it</b>" in msg["html"]

    [item] = outbox_of(db, conv_id)
    assert item.message_id == msg["id"]
    assert item.channel == "api"
    assert item.payload["text"] == "Hi, on it"
    assert item.payload["source"] == "crm"
    created = [e for e in events_of(db, conv_id) if e.type == "message.created" and e.actor_agent_id == agent.id]
    assert [e.payload["message"]["text"] for e in created] == ["Hi, on it"]
    assert not created[0].private
    conv = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["conversation"]
    assert conv["first_response_at"] is not None


def test_internal_note_is_stored_as_a_note_logged_privately_and_never_queued(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key, email="n@example.com")["conversation_id"])
    agent = login(client, db, "agent")
    colleague = login(client, db, "agent")
    resp = client.post(f"/api/v1/conversations/{conv_id}/notes",
                       json={"text": "VIP, be nice", "mentions": [colleague.id]}, headers=agent.headers)
    assert resp.status_code == 201, resp.text
    note = resp.json()
    assert note["direction"] == "note"
    assert note["delivery_status"] is None

    assert outbox_of(db, conv_id) == []
    [ev] = [e for e in events_of(db, conv_id) if e.type == "note.created"]
    assert ev.private is True
    assert ev.payload["mentions"] == [colleague.id]
    assert ev.payload["message"]["text"] == "VIP, be nice"
    # A note is not an answer to the customer.
    conv = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["conversation"]
    assert conv["first_response_at"] is None


def test_a_note_mentioning_an_unknown_agent_is_refused_and_not_stored(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key)["conversation_id"])
    agent = login(client, db, "agent")
    resp = client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "hey", "mentions": [424242]},
                       headers=agent.headers)
    assert resp.status_code == 404
    assert "424242" in resp.json()["message"]
    messages = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["messages"]
    assert [m["direction"] for m in messages] == ["in"]


def test_status_moves_through_pending_snoozed_resolved_and_open(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key)["conversation_id"])
    agent = login(client, db, "agent")
    url = f"/api/v1/conversations/{conv_id}/status"

    resp = client.post(url, json={"status": "pending"}, headers=agent.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "pending"

    wake = datetime.now(UTC) + timedelta(hours=2)
    resp = client.post(url, json={"status": "snoozed", "snoozed_until": wake.isoformat()}, headers=agent.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "snoozed"
    assert datetime.fromisoformat(resp.json()["snoozed_until"]) == wake

    resp = client.post(url, json={"status": "resolved"}, headers=agent.headers)
    assert resp.json()["status"] == "resolved"
    assert resp.json()["resolved_at"] is not None
    assert resp.json()["snoozed_until"] is None

    resp = client.post(url, json={"status": "open"}, headers=agent.headers)
    assert resp.json()["status"] == "open"
    assert resp.json()["resolved_at"] is None

    changes = [(e.payload["from"], e.payload["to"], e.actor_agent_id)
               for e in events_of(db, conv_id) if e.type == "conversation.status_changed"]
    assert changes == [("open", "pending", agent.id), ("pending", "snoozed", agent.id),
                       ("snoozed", "resolved", agent.id), ("resolved", "open", agent.id)]
    stored = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["conversation"]
    assert stored["status"] == "open"


def test_setting_the_same_status_again_records_nothing(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key)["conversation_id"])
    agent = login(client, db, "agent")
    for _ in range(2):
        client.post(f"/api/v1/conversations/{conv_id}/status", json={"status": "resolved"}, headers=agent.headers)
    assert len([e for e in events_of(db, conv_id) if e.type == "conversation.status_changed"]) == 1


@pytest.mark.parametrize("body, says", [
    ({"status": "snoozed"}, "snoozed_until"),
    ({"status": "snoozed", "snoozed_until": "2001-01-01T00:00:00+00:00"}, "future"),
    ({"status": "snoozed", "snoozed_until": "2999-01-01T00:00:00"}, "timezone"),
    ({"status": "snoozed", "snoozed_until": "tomorrow"}, "snoozed_until"),
    ({"status": "closed"}, "status"),
    ({"status": None}, "status"),
    ({}, "status"),
])
def test_a_bad_status_change_is_a_422_and_changes_nothing(client: TestClient, db: Database, body: dict[str, object],
                                                           says: str) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key)["conversation_id"])
    agent = login(client, db, "agent")
    resp = client.post(f"/api/v1/conversations/{conv_id}/status", json=body, headers=agent.headers)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid"
    assert says in resp.json()["message"].lower()
    conv = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["conversation"]
    assert conv["status"] == "open"
    assert conv["snoozed_until"] is None


def test_an_agent_takes_a_conversation_of_their_team(client: TestClient, db: Database) -> None:
    key = api_key(db)
    team = create_team(db)
    agent = login(client, db, "agent", teams=[team])
    conv_id = int(inbound(client, key)["conversation_id"])
    move(db, conv_id, team_id=team)
    resp = client.post(f"/api/v1/conversations/{conv_id}/assign", json={"assignee_id": agent.id},
                       headers=agent.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["assignee_id"] == agent.id
    assert resp.json()["team_id"] == team
    assert resp.json()["waiting_since"] is None
    [ev] = [e for e in events_of(db, conv_id) if e.type == "conversation.assigned" and e.actor_agent_id == agent.id]
    assert ev.payload["from_assignee_id"] is None
    assert ev.payload["assignee_id"] == agent.id
    assert ids(client.get("/api/v1/conversations?assignee=me", headers=agent.headers)) == [conv_id]


def test_an_agent_may_not_give_a_conversation_away_or_move_it_to_another_team(client: TestClient,
                                                                               db: Database) -> None:
    key = api_key(db)
    team, other_team = create_team(db), create_team(db)
    agent = login(client, db, "agent", teams=[team])
    colleague = login(client, db, "agent", teams=[team])
    conv_id = int(inbound(client, key)["conversation_id"])
    move(db, conv_id, team_id=team)
    url = f"/api/v1/conversations/{conv_id}/assign"
    for body in ({"assignee_id": colleague.id}, {"assignee_id": agent.id, "team_id": other_team},
                 {"assignee_id": None}):
        resp = client.post(url, json=body, headers=agent.headers)
        assert resp.status_code == 403, body
        assert "take an unassigned conversation" in resp.json()["message"]
    conv = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["conversation"]
    assert (conv["assignee_id"], conv["team_id"]) == (None, team)


def test_a_supervisor_transfers_to_another_team_and_agent_with_a_note(client: TestClient, db: Database) -> None:
    key = api_key(db)
    support, billing = create_team(db), create_team(db)
    sup = login(client, db, "supervisor")
    first = login(client, db, "agent", teams=[support])
    second = login(client, db, "agent", teams=[billing])
    conv_id = int(inbound(client, key)["conversation_id"])
    move(db, conv_id, team_id=support, assignee_id=first.id)
    resp = client.post(f"/api/v1/conversations/{conv_id}/assign",
                       json={"assignee_id": second.id, "team_id": billing, "note": "invoice question"},
                       headers=sup.headers)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["assignee_id"], resp.json()["team_id"]) == (second.id, billing)
    ev = [e for e in events_of(db, conv_id) if e.type == "conversation.assigned"][-1]
    assert ev.payload["from_assignee_id"] == first.id
    assert ev.payload["from_team_id"] == support
    assert ev.payload["note"] == "invoice question"
    assert ev.actor_agent_id == sup.id
    # The first agent lost it along with the team: out of their list, no more replies (they may still
    # read it and add notes, as any agent may).
    assert conv_id not in ids(client.get("/api/v1/conversations", headers=first.headers))
    reply_url, reply = f"/api/v1/conversations/{conv_id}/messages", {"text": "still here"}
    assert client.post(reply_url, json=reply, headers=first.headers).status_code == 403
    assert client.post(reply_url, json=reply, headers=second.headers).status_code == 201
    # Unassigning keeps the team: back in the billing queue.
    resp = client.post(f"/api/v1/conversations/{conv_id}/assign", json={"assignee_id": None}, headers=sup.headers)
    assert (resp.json()["assignee_id"], resp.json()["team_id"]) == (None, billing)
    assert resp.json()["waiting_since"] is not None


def test_assigning_to_an_unknown_agent_or_team_is_a_404(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = int(inbound(client, key)["conversation_id"])
    sup = login(client, db, "supervisor")
    resp = client.post(f"/api/v1/conversations/{conv_id}/assign", json={"assignee_id": 98765}, headers=sup.headers)
    assert resp.status_code == 404
    assert "agent 98765" in resp.json()["message"]
    resp = client.post(f"/api/v1/conversations/{conv_id}/assign", json={"assignee_id": sup.id, "team_id": 98765},
                       headers=sup.headers)
    assert resp.status_code == 404
    assert "team 98765" in resp.json()["message"]
    conv = client.get(f"/api/v1/conversations/{conv_id}", headers=sup.headers).json()["conversation"]
    assert conv["assignee_id"] is None
