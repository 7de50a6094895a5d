"""Identities join a customer only from verified sources; otherwise the hub suggests the match and an
agent merges (issue 13, medium 5)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from config.app import create_app
from hub.db import Database
from hub.ports import ContactRef, InboundMessage
from tests.agents_ui.api.test_conversations import move
from tests.conftest import make_settings
from tests.factories import api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def sms_in(client: TestClient, phone: str, text: str) -> tuple[int, int]:
    """A text from a customer, as the SMS adapter hands it over (the carrier proves the number)."""
    result = client.app.state.hub.ingest(InboundMessage(  # type: ignore[attr-defined]
        channel="sms", source="+15550009999", ingest_scope="twilio", external_id=f"SM{uuid.uuid4().hex}",
        contact=ContactRef(phone=phone, verified=frozenset({"phone"})), text=text))
    return int(result.contact_id), int(result.conversation_id)


def texts(client: TestClient, contact_id: int, headers: dict[str, str]) -> list[str]:
    items = client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=headers).json()["items"]
    return [i["data"]["message"]["text"] for i in reversed(items) if i["type"] == "message.created"]


def test_a_known_email_does_not_adopt_a_new_phone_and_an_agent_merges_them(client: TestClient,
                                                                             db: Database) -> None:
    key = api_key(db)
    customer = inbound(client, key, email="kim@example.com", name="Kim Lee", text="hello")["contact_id"]
    # Someone types Kim's email next to their own phone number.
    claim = inbound(client, key, email="kim@example.com", phone="+14155550142", text="this is my phone")
    assert claim["contact_id"] == customer  # the message is the email's customer's...
    agent = login(client, db, "agent")
    body = client.get(f"/api/v1/contacts/{customer}", headers=agent.headers).json()
    assert body["identities"] == [{"kind": "email", "address": "kim@example.com"}]  # ...the phone is not
    [suggestion] = body["suggested_matches"]
    held = suggestion["contact_id"]
    assert suggestion["identities"] == [{"kind": "phone", "address": "+14155550142"}]
    other = client.get(f"/api/v1/contacts/{held}", headers=agent.headers).json()
    assert other["identities"] == [{"kind": "phone", "address": "+14155550142"}]
    assert [m["contact_id"] for m in other["suggested_matches"]] == [customer]
    # A text from that phone stays out of Kim's history.
    sms_contact, sms_conv = sms_in(client, "+14155550142", "hi, it's me")
    assert sms_contact == held
    assert texts(client, customer, agent.headers) == ["hello", "this is my phone"]
    assert texts(client, held, agent.headers) == ["hi, it's me"]
    suggested = [i for i in client.get(f"/api/v1/contacts/{customer}/timeline", headers=agent.headers).json()["items"]
                 if i["type"] == "contact.match_suggested"]
    assert [i["data"]["candidate_id"] for i in suggested] == [customer]

    # The agent checked: it is Kim's phone. Everything moves into Kim, with the merge on both timelines.
    resp = client.post(f"/api/v1/contacts/{held}/merge", json={"into": customer}, headers=agent.headers)
    assert resp.status_code == 200, resp.text
    assert {(i["kind"], i["address"]) for i in resp.json()["identities"]} == {
        ("email", "kim@example.com"), ("phone", "+14155550142")}
    assert resp.json()["phone"] == "+14155550142"
    body = client.get(f"/api/v1/contacts/{customer}", headers=agent.headers).json()
    assert sms_conv in [c["id"] for c in body["conversations"]]
    assert body["suggested_matches"] == []
    assert texts(client, customer, agent.headers) == ["hello", "this is my phone", "hi, it's me"]
    for contact_id in (customer, held):
        items = client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=agent.headers).json()["items"]
        merged = [i for i in items if i["type"] == "contact.merged"]
        assert [(m["data"]["from_contact_id"], m["data"]["into_contact_id"], m["actor_agent_id"])
                for m in merged] == [(held, customer, agent.id)]
    emptied = client.get(f"/api/v1/contacts/{held}", headers=agent.headers).json()
    assert (emptied["identities"], emptied["conversations"], emptied["suggested_matches"]) == ([], [], [])
    # The next text joins Kim's SMS conversation.
    assert sms_in(client, "+14155550142", "thanks") == (customer, sms_conv)


def test_merge_refusals(client: TestClient, db: Database) -> None:
    key = api_key(db)
    a = inbound(client, key, email="a@example.com")["contact_id"]
    b = inbound(client, key, email="b@example.com")["contact_id"]
    agent = login(client, db, "agent")
    for contact_id, body, status in ((a, {"into": a}, 422), (a, {"into": 987654}, 404), (987654, {"into": a}, 404),
                                     (a, {}, 422), (a, {"into": b, "and": 1}, 422)):
        resp = client.post(f"/api/v1/contacts/{contact_id}/merge", json=body, headers=agent.headers)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["message"]
    assert client.post(f"/api/v1/contacts/{a}/merge", json={"into": b}).status_code == 401
    for contact_id, email in ((a, "a@example.com"), (b, "b@example.com")):
        idents = client.get(f"/api/v1/contacts/{contact_id}", headers=agent.headers).json()["identities"]
        assert idents == [{"kind": "email", "address": email}]


def test_in_team_visibility_an_agent_merges_only_customers_they_may_read(database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, visibility="team"))) as client:
        db: Database = client.app.state.hub.db  # type: ignore[attr-defined]
        key = api_key(db)
        mine, other = create_team(db), create_team(db)
        a = inbound(client, key, email="a@example.com")
        b = inbound(client, key, email="b@example.com")
        move(db, int(a["conversation_id"]), team_id=mine)
        move(db, int(b["conversation_id"]), team_id=other)
        agent = login(client, db, "agent", teams=[mine])
        resp = client.post(f"/api/v1/contacts/{a['contact_id']}/merge", json={"into": b["contact_id"]},
                           headers=agent.headers)
        assert resp.status_code == 403
        sup = login(client, db, "supervisor")
        resp = client.post(f"/api/v1/contacts/{a['contact_id']}/merge", json={"into": b["contact_id"]},
                           headers=sup.headers)
        assert resp.status_code == 200, resp.text


def _suggested(client: TestClient, contact_id: int, headers: dict[str, str]) -> list[int]:
    body = client.get(f"/api/v1/contacts/{contact_id}", headers=headers).json()
    return [m["contact_id"] for m in body["suggested_matches"]]


def test_an_agent_dismisses_a_suggested_match_and_both_customers_stop_showing_it(client: TestClient,
                                                                               db: Database) -> None:
    key = api_key(db)
    customer = int(inbound(client, key, email="kim@example.com", name="Kim Lee", text="hello")["contact_id"])
    inbound(client, key, email="kim@example.com", phone="+14155550143", text="my phone")
    agent = login(client, db, "agent")
    [held] = _suggested(client, customer, agent.headers)
    resp = client.post(f"/api/v1/contacts/{customer}/dismiss-match", json={"other": held}, headers=agent.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["suggested_matches"] == [] and resp.json()["id"] == customer
    assert _suggested(client, held, agent.headers) == []
    for contact_id in (customer, held):  # on both timelines, so open consoles read the customer again
        items = client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=agent.headers).json()["items"]
        dismissed = [i for i in items if i["type"] == "contact.match_dismissed"]
        assert [(d["data"]["contact_id"], d["data"]["candidate_id"], d["actor_agent_id"]) for d in dismissed] == [
            (customer, held, agent.id)]
    # Dismissed once is dismissed: again is a 404, as for a contact never suggested.
    again = client.post(f"/api/v1/contacts/{held}/dismiss-match", json={"other": customer}, headers=agent.headers)
    assert again.status_code == 404 and again.json()["message"]
    # The phone still stays out of Kim's record, and merging is still the agent's to do.
    assert client.post(f"/api/v1/contacts/{held}/merge", json={"into": customer}, headers=agent.headers).is_success


def test_dismissing_refusals(client: TestClient, db: Database) -> None:
    key = api_key(db)
    a = int(inbound(client, key, email="a@example.com")["contact_id"])
    b = int(inbound(client, key, email="b@example.com")["contact_id"])
    agent = login(client, db, "agent")
    for contact_id, body, status in ((a, {"other": b}, 404), (a, {"other": 987654}, 404), (987654, {"other": a}, 404),
                                     (a, {}, 422), (a, {"other": 0}, 422), (a, {"other": b, "and": 1}, 422)):
        resp = client.post(f"/api/v1/contacts/{contact_id}/dismiss-match", json=body, headers=agent.headers)
        assert resp.status_code == status, (body, resp.text)
    assert client.post(f"/api/v1/contacts/{a}/dismiss-match", json={"other": b}).status_code == 401


def test_in_team_visibility_only_who_may_read_both_customers_dismisses(database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, visibility="team"))) as client:
        db: Database = client.app.state.hub.db  # type: ignore[attr-defined]
        key = api_key(db)
        mine = create_team(db)
        first = inbound(client, key, email="kim@example.com", text="hello")
        second = inbound(client, key, email="kim@example.com", phone="+14155550144", text="my phone")
        move(db, int(first["conversation_id"]), team_id=mine)
        sup = login(client, db, "supervisor")
        customer = int(first["contact_id"])
        [held] = _suggested(client, customer, sup.headers)
        assert second["contact_id"] == customer  # the held phone's contact has no conversation: no team reads it
        agent = login(client, db, "agent", teams=[mine])
        resp = client.post(f"/api/v1/contacts/{customer}/dismiss-match", json={"other": held}, headers=agent.headers)
        assert resp.status_code == 403, resp.text
        assert _suggested(client, customer, sup.headers) == [held]
        resp = client.post(f"/api/v1/contacts/{customer}/dismiss-match", json={"other": held}, headers=sup.headers)
        assert resp.status_code == 200, resp.text


def test_in_team_visibility_an_agent_is_not_shown_a_suggested_customer_no_team_of_theirs_reads(
        database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, visibility="team"))) as client:
        db: Database = client.app.state.hub.db  # type: ignore[attr-defined]
        key = api_key(db)
        mine = create_team(db)
        first = inbound(client, key, email="kim@example.com", name="Kim Lee", text="hello")
        inbound(client, key, email="kim@example.com", phone="+14155550145", text="my phone")
        move(db, int(first["conversation_id"]), team_id=mine)
        customer = int(first["contact_id"])
        sup = login(client, db, "supervisor")
        [held] = _suggested(client, customer, sup.headers)
        client.patch(f"/api/v1/contacts/{held}", json={"name": "Held Person"}, headers=sup.headers).raise_for_status()
        agent = login(client, db, "agent", teams=[mine])
        resp = client.get(f"/api/v1/contacts/{customer}", headers=agent.headers)
        assert resp.status_code == 200 and resp.json()["suggested_matches"] == []
        assert "Held Person" not in resp.text and "+14155550145" not in resp.text
        # Once a conversation of the agent's team is the held contact's, they may read it and decide.
        _, conv = sms_in(client, "+14155550145", "it's me")
        move(db, conv, team_id=mine)
        [shown] = client.get(f"/api/v1/contacts/{customer}", headers=agent.headers).json()["suggested_matches"]
        assert (shown["contact_id"], shown["name"]) == (held, "Held Person")
