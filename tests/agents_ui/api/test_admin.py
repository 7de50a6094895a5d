"""Administration through the API: agents, teams, integrators' API keys, and an agent's own presence."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.conversations import actions as conv_actions
from hub.db import Database
from hub.events.models import Event
from tests.factories import api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def log_in(client: TestClient, email: str, password: str) -> int:
    status = client.post("/api/v1/auth/login", json={"email": email, "password": password}).status_code
    client.cookies.clear()
    return status


def bearer(client: TestClient, email: str, password: str) -> dict[str, str]:
    resp = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    client.cookies.clear()
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


# -- agents ------------------------------------------------------------------------------------


def test_an_admin_creates_an_agent_who_can_then_log_in(client: TestClient, db: Database) -> None:
    admin = login(client, db, "admin")
    resp = client.post("/api/v1/agents", headers=admin.headers, json={
        "email": " Nina@Example.COM ", "name": "Nina", "role": "supervisor", "password": "s3cret-enough",
        "capacities": {"webchat": 2, "email": 8}, "skills": ["french"]})
    assert resp.status_code == 201, resp.text
    nina = resp.json()
    assert nina["email"] == "nina@example.com"
    assert (nina["name"], nina["role"], nina["active"], nina["presence"]) == ("Nina", "supervisor", True, "offline")
    assert nina["capacities"] == {"webchat": 2, "email": 8}
    assert nina["skills"] == ["french"]
    assert "password" not in nina and "password_hash" not in nina

    me = client.get("/api/v1/agents/me", headers=bearer(client, "nina@example.com", "s3cret-enough")).json()
    assert me["id"] == nina["id"]
    assert me["role"] == "supervisor"


def test_an_email_can_belong_to_one_agent_only(client: TestClient, db: Database) -> None:
    admin = login(client, db, "admin")
    body = {"email": "dup@example.com", "name": "First", "password": "long enough"}
    assert client.post("/api/v1/agents", json=body, headers=admin.headers).status_code == 201
    resp = client.post("/api/v1/agents", json={**body, "email": "DUP@example.com", "name": "Second"},
                       headers=admin.headers)
    assert resp.status_code == 409
    assert resp.json()["error"] == "conflict"
    assert "dup@example.com" in resp.json()["message"]
    names = [a["name"] for a in client.get("/api/v1/agents", headers=admin.headers).json()["items"]]
    assert "Second" not in names


def test_everyone_logged_in_can_list_agents_with_their_teams(client: TestClient, db: Database) -> None:
    team = create_team(db)
    agent = login(client, db, "agent", teams=[team])
    admin = login(client, db, "admin")
    resp = client.get("/api/v1/agents", headers=agent.headers)
    assert resp.status_code == 200
    items = {a["id"]: a for a in resp.json()["items"]}
    assert set(items) == {agent.id, admin.id}
    assert items[agent.id]["team_ids"] == [team]
    assert items[admin.id]["role"] == "admin"
    assert all("password_hash" not in a for a in items.values())


def test_an_admin_changes_an_agents_name_role_capacities_and_skills(client: TestClient, db: Database) -> None:
    key = api_key(db)
    team = create_team(db)
    conv_id = int(inbound(client, key)["conversation_id"])
    with db.write() as s:
        conv_actions.do_assign(s, conv_actions.get_conversation(s, conv_id), assignee_id=None, team_id=team,
                               actor_agent_id=None, reason="test")
    agent = login(client, db, "agent")
    admin = login(client, db, "admin")
    status_url, pending = f"/api/v1/conversations/{conv_id}/status", {"status": "pending"}
    # Another team's conversation: an agent may read it, but not change its status; a supervisor may.
    assert client.post(status_url, json=pending, headers=agent.headers).status_code == 403

    resp = client.patch(f"/api/v1/agents/{agent.id}", headers=admin.headers, json={
        "name": "Promoted", "role": "supervisor", "capacities": {"sms": 9}, "skills": ["spanish"]})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["name"], resp.json()["role"]) == ("Promoted", "supervisor")
    assert resp.json()["capacities"] == {"sms": 9}
    assert resp.json()["skills"] == ["spanish"]
    # The new role applies at once, to the session the agent already has.
    assert client.post(status_url, json=pending, headers=agent.headers).status_code == 200
    assert client.get("/api/v1/agents/me", headers=agent.headers).json()["name"] == "Promoted"
    # Fields left out stay as they were.
    resp = client.patch(f"/api/v1/agents/{agent.id}", headers=admin.headers, json={"name": "Again"})
    assert (resp.json()["role"], resp.json()["skills"]) == ("supervisor", ["spanish"])


@pytest.mark.parametrize("capacity", [10**30, 2**63, -1, 1001, 2.5])
def test_capacities_beyond_0_to_1000_are_refused_with_a_422(client: TestClient, db: Database,
                                                           capacity: object) -> None:
    agent = login(client, db, "agent", capacities={"sms": 3})
    admin = login(client, db, "admin")
    resp = client.patch(f"/api/v1/agents/{agent.id}", headers=admin.headers, json={"capacities": {"sms": capacity}})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid"
    assert "capacities.sms" in resp.json()["message"]
    resp = client.post("/api/v1/agents", headers=admin.headers, json={
        "email": "big@example.com", "name": "Big", "password": "long enough", "capacities": {"sms": capacity}})
    assert resp.status_code == 422, resp.text
    me = client.get("/api/v1/agents/me", headers=agent.headers).json()
    assert me["capacities"] == {"sms": 3}
    resp = client.patch(f"/api/v1/agents/{agent.id}", headers=admin.headers, json={"capacities": {"sms": 1000}})
    assert resp.status_code == 200 and resp.json()["capacities"] == {"sms": 1000}


def test_an_admin_resets_a_password_which_ends_the_agents_sessions(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    admin = login(client, db, "admin")
    resp = client.patch(f"/api/v1/agents/{agent.id}", json={"password": "brand-new-pass"}, headers=admin.headers)
    assert resp.status_code == 200
    assert client.get("/api/v1/agents/me", headers=agent.headers).status_code == 401
    assert log_in(client, agent.email, "correct horse battery") == 401
    assert log_in(client, agent.email, "brand-new-pass") == 200
    # The admin's own session is untouched.
    assert client.get("/api/v1/agents/me", headers=admin.headers).status_code == 200


def test_a_deactivated_agent_can_be_reactivated(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    admin = login(client, db, "admin")
    client.patch(f"/api/v1/agents/{agent.id}", json={"active": False}, headers=admin.headers)
    assert log_in(client, agent.email, "correct horse battery") == 401
    listed = {a["id"]: a for a in client.get("/api/v1/agents", headers=admin.headers).json()["items"]}
    assert listed[agent.id]["active"] is False
    client.patch(f"/api/v1/agents/{agent.id}", json={"active": True}, headers=admin.headers)
    assert log_in(client, agent.email, "correct horse battery") == 200


def test_my_profile_says_who_i_am_and_my_teams(client: TestClient, db: Database) -> None:
    a, b = create_team(db), create_team(db)
    agent = login(client, db, "agent", teams=[a, b])
    me = client.get("/api/v1/agents/me", headers=agent.headers).json()
    assert (me["id"], me["email"], me["role"]) == (agent.id, agent.email, "agent")
    assert sorted(me["team_ids"]) == sorted([a, b])


# -- presence ----------------------------------------------------------------------------------


def test_an_agent_sets_their_presence_and_everyone_sees_it(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    other = login(client, db, "agent")
    resp = client.post("/api/v1/agents/me/presence", json={"presence": "away"}, headers=agent.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["presence"] == "away"
    listed = {a["id"]: a for a in client.get("/api/v1/agents", headers=other.headers).json()["items"]}
    assert listed[agent.id]["presence"] == "away"
    assert listed[other.id]["presence"] == "offline"
    client.post("/api/v1/agents/me/presence", json={"presence": "away"}, headers=agent.headers)
    client.post("/api/v1/agents/me/presence", json={"presence": "offline"}, headers=agent.headers)
    with db.read() as s:
        changes = [(e.payload["from"], e.payload["presence"]) for e in s.execute(
            select(Event).where(Event.type == "presence.changed", Event.actor_agent_id == agent.id)
            .order_by(Event.id)).scalars()]  # type: ignore[arg-type]
    assert changes == [("offline", "away"), ("away", "offline")]


# -- teams -------------------------------------------------------------------------------------


def test_an_admin_builds_a_team_and_membership_decides_what_agents_see(client: TestClient, db: Database) -> None:
    key = api_key(db)
    admin = login(client, db, "admin")
    agent = login(client, db, "agent")
    resp = client.post("/api/v1/teams", json={"name": " Billing "}, headers=admin.headers)
    assert resp.status_code == 201, resp.text
    team = resp.json()
    assert (team["name"], team["member_ids"]) == ("Billing", [])

    conv_id = int(inbound(client, key)["conversation_id"])
    with db.write() as s:
        conv_actions.do_assign(s, conv_actions.get_conversation(s, conv_id), assignee_id=None, team_id=team["id"],
                               actor_agent_id=None, reason="test")
    def in_inbox() -> bool:  # the team's work shows in its members' lists (every agent may read it)
        items = client.get("/api/v1/conversations", headers=agent.headers).json()["items"]
        return conv_id in [c["id"] for c in items]

    assert not in_inbox()

    for _ in range(2):  # adding twice is harmless
        resp = client.post(f"/api/v1/teams/{team['id']}/members", json={"agent_id": agent.id}, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["member_ids"] == [agent.id]
    assert in_inbox()
    listed = client.get("/api/v1/teams", headers=agent.headers).json()["items"]
    assert [(t["name"], t["member_ids"]) for t in listed] == [("Billing", [agent.id])]

    resp = client.delete(f"/api/v1/teams/{team['id']}/members/{agent.id}", headers=admin.headers)
    assert resp.status_code == 200
    assert resp.json()["member_ids"] == []
    assert not in_inbox()


def test_team_names_are_unique(client: TestClient, db: Database) -> None:
    admin = login(client, db, "admin")
    assert client.post("/api/v1/teams", json={"name": "Sales"}, headers=admin.headers).status_code == 201
    resp = client.post("/api/v1/teams", json={"name": "Sales"}, headers=admin.headers)
    assert resp.status_code == 409
    assert "Sales" in resp.json()["message"]
    assert len(client.get("/api/v1/teams", headers=admin.headers).json()["items"]) == 1


# -- API keys ----------------------------------------------------------------------------------


INBOUND = {"source": "crm", "external_id": "k-1", "contact": {"email": "k@example.com"}, "text": "hi"}


def test_an_api_key_is_shown_once_works_on_the_inbound_api_and_stops_when_revoked(client: TestClient,
                                                                                 db: Database) -> None:
    admin = login(client, db, "admin")
    resp = client.post("/api/v1/api-keys", json={"name": "CRM"}, headers=admin.headers)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    secret = created["key"]
    assert secret.startswith(created["prefix"])
    assert created["revoked_at"] is None

    listed = client.get("/api/v1/api-keys", headers=admin.headers).json()["items"]
    assert [(k["id"], k["name"], k["prefix"]) for k in listed] == [(created["id"], "CRM", created["prefix"])]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    assert secret not in client.get("/api/v1/api-keys", headers=admin.headers).text

    assert client.post("/api/v1/inbound/messages", json=INBOUND, headers={"X-Api-Key": secret}).status_code == 201

    resp = client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin.headers)
    assert resp.status_code == 200
    revoked_at = resp.json()["revoked_at"]
    assert revoked_at is not None
    resp = client.post("/api/v1/inbound/messages", json={**INBOUND, "external_id": "k-2"},
                       headers={"X-Api-Key": secret})
    assert resp.status_code == 401
    # Revoking again keeps the first revocation time.
    assert client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin.headers).json()["revoked_at"] == revoked_at


def test_revoking_one_key_leaves_the_others_working(client: TestClient, db: Database) -> None:
    admin = login(client, db, "admin")
    first = client.post("/api/v1/api-keys", json={"name": "one"}, headers=admin.headers).json()
    second = client.post("/api/v1/api-keys", json={"name": "two"}, headers=admin.headers).json()
    assert first["key"] != second["key"]
    client.delete(f"/api/v1/api-keys/{first['id']}", headers=admin.headers)
    resp = client.post("/api/v1/inbound/messages", json=INBOUND, headers={"Authorization": f"Bearer {second['key']}"})
    assert resp.status_code == 201


def test_the_last_active_admin_cannot_demote_or_deactivate_themselves(client: TestClient, db: Database) -> None:
    from sqlalchemy import update

    from hub.agents.models import Agent

    admin = login(client, db, "admin")
    with db.write() as s:  # make this the only active admin in the database
        s.execute(update(Agent).where(Agent.id != admin.id, Agent.role == "admin").values(active=False))
    for change in ({"role": "agent"}, {"active": False}):
        resp = client.patch(f"/api/v1/agents/{admin.id}", json=change, headers=admin.headers)
        assert resp.status_code == 409, resp.text
        assert "last active admin" in resp.json()["message"]
    other = login(client, db, "admin")
    assert client.patch(f"/api/v1/agents/{admin.id}", json={"role": "agent"}, headers=other.headers).status_code == 200
