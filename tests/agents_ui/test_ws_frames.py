"""What a console may send on its socket: oversized, deeply nested or out-of-range frames get a
clear close code or an error frame, never an abnormal close; presence changes are throttled."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from agents_ui import presence, ws_frames
from hub.db import Database
from tests.agents_ui.test_ws import receive, until
from tests.conftest import LiveServer
from tests.factories import login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

NESTED = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("first", [
    '{"type": "resume", "last_event_id": 1000000000000000000000000000000}',
    '{"type": "resume", "last_event_id": 18446744073709551615}',
    NESTED,
    '{"type": "resume", "last_event_id": ' + NESTED + "}",
])
def test_an_unusable_first_frame_closes_with_1003_and_says_why(client: TestClient, db: Database, first: str) -> None:
    agent = login(client, db, "agent")
    with client.websocket_connect("/ws/agent", headers=agent.headers) as ws:
        ws.send_text(first)
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    assert closed.value.code == 1003
    assert "last_event_id" in closed.value.reason


def test_after_ready_bad_frames_get_an_error_frame_and_the_socket_goes_on(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    with client.websocket_connect("/ws/agent", headers=agent.headers) as ws:
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert receive(ws)["type"] == "ready"
        for bad in (NESTED, "[1, 2]", '"text"', "1e999999"):
            ws.send_text(bad)
            assert receive(ws) == {"type": "error", "message": "frames must be JSON objects"}
        ws.send_text(json.dumps({"type": "x" * 10_000}))
        error = receive(ws)
        assert error["type"] == "error" and len(error["message"]) < 100
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}


@pytest.mark.parametrize("size", [ws_frames.MAX_FRAME_CHARS + 1, 15 * 1024 * 1024])
def test_a_frame_over_the_limit_closes_with_1009_before_it_is_parsed(client: TestClient, db: Database,
                                                                      size: int) -> None:
    agent = login(client, db, "agent")
    with client.websocket_connect("/ws/agent", headers=agent.headers) as ws:
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert receive(ws)["type"] == "ready"
        frame = json.dumps({"type": "ping", "pad": ""})
        ws.send_text(json.dumps({"type": "ping", "pad": "x" * (size - len(frame))}))
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    assert closed.value.code == 1009
    assert f"limited to {ws_frames.MAX_FRAME_CHARS}" in closed.value.reason


def test_a_frame_just_under_the_limit_is_answered(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    with client.websocket_connect("/ws/agent", headers=agent.headers) as ws:
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert receive(ws)["type"] == "ready"
        frame = json.dumps({"type": "ping", "pad": ""})
        ws.send_text(json.dumps({"type": "ping", "pad": "x" * (ws_frames.MAX_FRAME_CHARS - len(frame))}))
        assert receive(ws) == {"type": "pong"}


def test_presence_changes_are_throttled_per_agent(client: TestClient, db: Database,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of toggles costs at most PRESENCE_CHANGES writes and events; the rest are answered
    with an error frame. (A long window here, so that a slow machine cannot spread the burst.)"""
    monkeypatch.setattr(presence, "PRESENCE_WINDOW_SECONDS", 60.0)
    agent = login(client, db, "agent")
    with client.websocket_connect("/ws/agent", headers=agent.headers) as ws:
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert receive(ws)["type"] == "ready"
        for i in range(20):
            ws.send_json({"type": "presence", "presence": "online" if i % 2 == 0 else "away"})
        ws.send_json({"type": "ping"})
        frames = until(ws, lambda f: f.get("type") == "pong")
        # Another socket of the same agent shares the budget.
        with client.websocket_connect("/ws/agent", headers=agent.headers) as other:
            other.send_json({"type": "resume", "last_event_id": 0})
            assert receive(other)["type"] == "ready"
            other.send_json({"type": "presence", "presence": "offline"})
            assert receive(other)["message"].startswith("too many presence changes")
    errors = [f for f in frames if f.get("type") == "error"]
    changes = [f for f in frames if f.get("type") == "presence.changed"]
    assert len(errors) == 20 - presence.PRESENCE_CHANGES
    assert all(e["message"].startswith("too many presence changes; try again in") for e in errors)
    assert len(changes) <= presence.PRESENCE_CHANGES


def test_a_browser_without_a_session_reads_why_it_was_refused(live_server: LiveServer) -> None:
    """Over a real server: a refusal before the handshake would be a bare HTTP 403."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(f"{live_server.ws_url}/ws/agent", additional_headers={"Authorization": "Bearer hub_forged"},
                 open_timeout=10) as conn, pytest.raises(ConnectionClosed) as closed:
        conn.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason.startswith("log in first")
