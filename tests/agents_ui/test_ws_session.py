"""An open agent socket follows its session: it closes when the session ends (logout, deactivation,
a new password, expiry) and sees what its agent may see now, not what they could see at connect."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from agents_ui import ws as agent_ws
from config.app import create_app
from hub.agents import actions as agent_actions
from hub.db import Database
from tests.agents_ui.test_ws import connect, message_text, move, receive, says, until
from tests.conftest import make_settings
from tests.factories import AgentLogin, api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def assert_closed_for_session(ws: object) -> None:
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            receive(ws)  # type: ignore[arg-type]
    assert closed.value.code == 4401
    assert "session ended" in closed.value.reason


def note(client: TestClient, author: AgentLogin, conversation_id: int, text: str) -> None:
    resp = client.post(f"/api/v1/conversations/{conversation_id}/notes", json={"text": text}, headers=author.headers)
    assert resp.status_code == 201, resp.text


def test_after_removal_from_a_team_its_notes_no_longer_reach_the_socket(client: TestClient, db: Database) -> None:
    key = api_key(db)
    team = create_team(db)
    agent = login(client, db, "agent", teams=[team])
    admin = login(client, db, "admin")
    conv_id = int(inbound(client, key, email="team@example.com", text="hello team")["conversation_id"])
    move(db, conv_id, team_id=team)
    shared = int(inbound(client, key, email="shared@example.com", text="shared")["conversation_id"])
    with connect(client, agent, 0) as ws:
        receive(ws)
        note(client, admin, conv_id, "before removal")
        until(ws, says("before removal"))
        resp = client.delete(f"/api/v1/teams/{team}/members/{agent.id}", headers=admin.headers)
        assert resp.status_code == 200
        note(client, admin, conv_id, "secret after removal")
        inbound(client, key, email="team@example.com", text="customer after removal")
        note(client, admin, shared, "sentinel")
        frames = until(ws, says("sentinel"))
    assert [message_text(f) for f in frames if message_text(f)] == ["sentinel"]
    assert not [f for f in frames if f.get("conversation_id") == conv_id]


def test_after_being_added_to_a_team_or_made_supervisor_the_socket_sees_more(client: TestClient,
                                                                           db: Database) -> None:
    key = api_key(db)
    team, other = create_team(db), create_team(db)
    agent = login(client, db, "agent")
    admin = login(client, db, "admin")
    conv_id = int(inbound(client, key, email="team@example.com")["conversation_id"])
    move(db, conv_id, team_id=team)
    elsewhere = int(inbound(client, key, email="other@example.com")["conversation_id"])
    move(db, elsewhere, team_id=other)
    with connect(client, agent, 0) as ws:
        receive(ws)
        assert client.post(f"/api/v1/teams/{team}/members", json={"agent_id": agent.id},
                           headers=admin.headers).status_code == 200
        note(client, admin, conv_id, "welcome to the team")
        until(ws, says("welcome to the team"))
        resp = client.patch(f"/api/v1/agents/{agent.id}", json={"role": "supervisor"}, headers=admin.headers)
        assert resp.status_code == 200
        note(client, admin, elsewhere, "now you see every team")
        until(ws, says("now you see every team"))


def test_logout_closes_that_sessions_socket_and_no_other(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    resp = client.post("/api/v1/auth/login", json={"email": agent.email, "password": "correct horse battery"})
    other_session = resp.json()["token"]
    client.cookies.clear()
    with connect(client, agent, 0) as ended, connect(client, AgentLogin(agent.id, agent.email, "agent", other_session),
                                                    0) as kept:
        receive(ended), receive(kept)
        assert client.post("/api/v1/auth/logout", headers=agent.headers).status_code == 200
        assert_closed_for_session(ended)
        kept.send_json({"type": "ping"})
        assert until(kept, lambda f: f.get("type") == "pong")


def test_deactivating_an_agent_closes_their_socket(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    admin = login(client, db, "admin")
    with connect(client, agent, 0) as ws:
        receive(ws)
        resp = client.patch(f"/api/v1/agents/{agent.id}", json={"active": False}, headers=admin.headers)
        assert resp.status_code == 200
        assert_closed_for_session(ws)


def test_a_logout_on_another_node_closes_the_socket(client: TestClient, db: Database, database_url: str) -> None:
    agent = login(client, db, "agent")
    with connect(client, agent, 0) as ws:
        receive(ws)
        with TestClient(create_app(make_settings(database_url))) as other_node:
            assert other_node.post("/api/v1/auth/logout", headers=agent.headers).status_code == 200
            assert_closed_for_session(ws)


def test_an_expiring_token_closes_its_socket(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    with db.write() as s:
        short = agent_actions.do_create_token(s, agent_actions.get_agent(s, agent.id), timedelta(seconds=1))
    with connect(client, AgentLogin(agent.id, agent.email, "agent", short), 0) as ws:
        receive(ws)
        assert_closed_for_session(ws)


def test_a_session_ended_without_an_event_closes_at_the_next_check(
        client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password set from the CLI ends every session but appends no event: the periodic check."""
    monkeypatch.setattr(agent_ws, "SESSION_CHECK_SECONDS", 0.2)
    agent = login(client, db, "agent")
    with connect(client, agent, 0) as ws:
        receive(ws)
        with db.write() as s:
            agent_actions.do_set_password(s, agent_actions.get_agent(s, agent.id), "a brand new password")
        assert_closed_for_session(ws)
