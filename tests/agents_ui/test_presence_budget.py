"""Presence changes through REST are throttled like the socket's, with one budget per agent for
both: a script toggling `POST /api/v1/agents/me/presence` cannot push an event to every console per
request. Setting the presence an agent already has appends nothing."""

from __future__ import annotations

import math

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agents_ui import presence
from hub.db import Database
from hub.events.models import Event
from tests.agents_ui.test_ws import receive, until
from tests.factories import AgentLogin, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture(autouse=True)
def long_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window no slow machine can outlast within a burst."""
    monkeypatch.setattr(presence, "PRESENCE_WINDOW_SECONDS", 60.0)


def set_presence(client: TestClient, agent: AgentLogin, value: str) -> httpx.Response:
    return client.post("/api/v1/agents/me/presence", json={"presence": value}, headers=agent.headers)


def changes_of(db: Database, agent_id: int) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(Event).where(
            Event.type == "presence.changed", Event.actor_agent_id == agent_id)).scalar_one())


def test_a_burst_of_toggles_through_rest_gets_429_with_retry_after(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    answers = [set_presence(client, agent, "online" if i % 2 == 0 else "away") for i in range(50)]
    statuses = [a.status_code for a in answers]
    assert statuses == [200] * presence.PRESENCE_CHANGES + [429] * (50 - presence.PRESENCE_CHANGES)
    refused = answers[-1]
    body = refused.json()
    assert body["error"] == "too_many_requests"
    assert body["message"].startswith("too many presence changes; try again in")
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= math.ceil(presence.PRESENCE_WINDOW_SECONDS)
    assert changes_of(db, agent.id) == presence.PRESENCE_CHANGES
    # Another agent's budget is their own.
    other = login(client, db, "agent")
    assert set_presence(client, other, "away").status_code == 200


def test_rest_and_socket_spend_one_budget(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    with client.websocket_connect("/ws/agent", headers=agent.headers) as ws:
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert receive(ws)["type"] == "ready"
        for i in range(presence.PRESENCE_CHANGES - 1):
            assert set_presence(client, agent, "online" if i % 2 == 0 else "away").status_code == 200
        ws.send_json({"type": "presence", "presence": "offline"})  # the last of the budget
        until(ws, lambda f: f.get("type") == "presence.changed" and f["data"]["presence"] == "offline")
        ws.send_json({"type": "presence", "presence": "online"})
        error = until(ws, lambda f: f.get("type") == "error")[-1]
        assert error["message"].startswith("too many presence changes")
        assert set_presence(client, agent, "online").status_code == 429
    assert changes_of(db, agent.id) == presence.PRESENCE_CHANGES


def test_setting_the_same_presence_appends_no_event(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    for _ in range(3):
        resp = set_presence(client, agent, "away")
        assert resp.status_code == 200 and resp.json()["presence"] == "away"
    assert changes_of(db, agent.id) == 1
