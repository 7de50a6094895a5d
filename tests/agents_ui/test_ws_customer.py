"""The sidebar's customer on the agent socket (agents_ui/ws_customer.py): a console following a
customer receives their events from conversations outside the agent's teams that the agent may
read (company mode: all of them), as the contact's API shows them; nothing of a customer the agent
may not read, and nothing of other customers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from config.settings import Settings
from hub.db import Database
from tests.agents_ui.test_ws import connect, is_ready, move, receive, says, until
from tests.conftest import make_settings
from tests.factories import AgentLogin, api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
Frame = dict[str, Any]


@pytest.fixture
def settings(database_url: str, visibility: str) -> Settings:
    return make_settings(database_url, visibility=visibility)


def follow(ws: WebSocketTestSession, contact_id: object) -> Frame:
    ws.send_json({"type": "customer", "contact_id": contact_id})
    return until(ws, lambda f: f.get("type") in ("customer", "error"))[-1]


def test_a_followed_customers_events_arrive_from_every_conversation_the_agent_may_read(
        client: TestClient, db: Database, visibility: str) -> None:
    key = api_key(db)
    support, billing = create_team(db), create_team(db)
    ana = login(client, db, "agent", teams=[support])
    boss = login(client, db, "supervisor")
    fay = inbound(client, key, email="fay@example.com", text="my parcel")
    fay_billing = inbound(client, key, source="shop", email="fay@example.com", text="my refund")
    gus = inbound(client, key, email="gus@example.com", text="gus's own")
    move(db, int(fay["conversation_id"]), team_id=support)
    move(db, int(fay_billing["conversation_id"]), team_id=billing)
    move(db, int(gus["conversation_id"]), team_id=billing)
    fay_id, gus_id = fay["contact_id"], gus["contact_id"]

    rounds: list[int] = []

    def news(ws: WebSocketTestSession) -> list[Frame]:
        """What arrives of: a status change in Fay's billing conversation, Fay renamed, a message
        of Gus's (billing), then a sentinel in Ana's own team's conversation."""
        rounds.append(len(rounds))
        status(boss, int(fay_billing["conversation_id"]), "pending" if len(rounds) % 2 else "open")
        rename(boss, fay_id, f"Fay {len(rounds)}")
        inbound(client, key, email="gus@example.com", text="gus again")
        inbound(client, key, email="fay@example.com", text="sentinel")
        return [f for f in until(ws, says("sentinel"))[:-1] if "id" in f]

    def status(who: AgentLogin, conversation_id: int, to: str) -> None:
        resp = client.post(f"/api/v1/conversations/{conversation_id}/status", json={"status": to}, headers=who.headers)
        assert resp.status_code == 200, resp.text

    def rename(who: AgentLogin, contact_id: object, name: str) -> None:
        resp = client.patch(f"/api/v1/contacts/{contact_id}", json={"name": name}, headers=who.headers)
        assert resp.status_code == 200, resp.text

    with connect(client, ana) as ws:
        until(ws, is_ready)
        unfollowed = {f["type"] for f in news(ws)}
        assert follow(ws, fay_id) == {"type": "customer", "contact_id": fay_id}
        followed = news(ws)
        # Gus has no conversation in Ana's teams: in team mode she may not read him.
        readable = visibility == "company"
        assert follow(ws, gus_id) == {"type": "customer", "contact_id": gus_id if readable else None}
        after = news(ws)
        assert follow(ws, None) == {"type": "customer", "contact_id": None}
        assert follow(ws, "fay")["type"] == "error"
        assert follow(ws, 2**31)["type"] == "error"
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}  # the socket goes on

    # Not followed: nothing of the billing conversations; Fay renamed only where contacts are not isolated.
    assert unfollowed == ({"contact.updated"} if readable else set())
    assert {(f["type"], f["contact_id"]) for f in followed} == {
        *([("conversation.status_changed", fay_id)] if readable else []), ("contact.updated", fay_id)}
    # Gus followed: his message, when Ana may read his conversation; Fay's billing news no more.
    assert [f["type"] for f in after if f["contact_id"] == gus_id] == (["message.created"] if readable else [])
    assert [f["type"] for f in after if f["contact_id"] == fay_id] == (["contact.updated"] if readable else [])


@pytest.mark.parametrize("visibility", ["team"])  # in company mode every agent reads every customer
def test_a_customer_no_longer_readable_after_leaving_a_team_is_no_longer_followed(
        client: TestClient, db: Database) -> None:
    key = api_key(db)
    support = create_team(db)
    ana = login(client, db, "agent", teams=[support])
    admin = login(client, db, "admin")
    fay = inbound(client, key, email="fay@example.com", text="my parcel")
    move(db, int(fay["conversation_id"]), team_id=support)
    with connect(client, ana) as ws:
        until(ws, is_ready)
        assert follow(ws, fay["contact_id"])["contact_id"] == fay["contact_id"]
        resp = client.delete(f"/api/v1/teams/{support}/members/{ana.id}", headers=admin.headers)
        assert resp.status_code == 200, resp.text
        until(ws, lambda f: f.get("type") == "team.member_removed")
        resp = client.patch(f"/api/v1/contacts/{fay['contact_id']}", json={"name": "Fay"}, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        inbound(client, key, email="nobody@example.com", text="sentinel")  # the shared inbox: Ana's
        frames = until(ws, says("sentinel"))
    assert [f["type"] for f in frames if f.get("contact_id") == fay["contact_id"]] == []
