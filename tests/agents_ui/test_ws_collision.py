"""Collision presence on the agent socket (agents_ui/ws_collision.py): agents who have the same
conversation open see each other and each other's typing; one who may not read it learns nothing,
and is not shown either."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from config.settings import Settings
from hub.db import Database
from tests.agents_ui.test_ws import connect, is_ready, move, receive, until
from tests.conftest import make_settings
from tests.factories import AgentLogin, api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
Frame = dict[str, Any]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, visibility="team")


def kind(name: str) -> Any:
    return lambda frame: frame.get("type") == name


def next_of(ws: WebSocketTestSession, name: str) -> Frame:
    return until(ws, kind(name))[-1]


def nothing_but_pong(ws: WebSocketTestSession) -> None:
    ws.send_json({"type": "ping"})
    assert receive(ws) == {"type": "pong"}


def ids(frame: Frame) -> list[int]:
    return [a["id"] for a in frame["agents"]]


def shows(ws: WebSocketTestSession, agents: list[int]) -> None:
    """Viewers frames arrive until one lists these agents (an earlier one may list fewer)."""
    until(ws, lambda f: f.get("type") == "viewers" and ids(f) == agents)


def setup(client: TestClient, db: Database) -> tuple[int, AgentLogin, AgentLogin, AgentLogin]:
    support, billing = create_team(db), create_team(db)
    conv = int(inbound(client, api_key(db), email="fay@example.com", text="where is my parcel?")["conversation_id"])
    move(db, conv, team_id=support)
    return (conv, login(client, db, "agent", teams=[support]), login(client, db, "agent", teams=[support]),
            login(client, db, "agent", teams=[billing]))


def test_two_agents_on_one_conversation_see_each_other_come_type_and_go(client: TestClient, db: Database) -> None:
    conv, ben, ana, _ = setup(client, db)
    with connect(client, ben) as b, connect(client, ana) as a:
        until(b, is_ready), until(a, is_ready)
        b.send_json({"type": "viewing", "conversation_id": conv})
        assert next_of(b, "viewers") == {"type": "viewers", "conversation_id": conv, "agents": []}
        a.send_json({"type": "viewing", "conversation_id": conv})
        shows(a, [ben.id])  # the room as it is, to the one who joins
        shows(b, [ana.id])
        a.send_json({"type": "typing", "conversation_id": conv})
        typing = next_of(b, "typing")
        assert (typing["who"], typing["agent_id"], typing["mode"]) == ("agent", ana.id, "reply")
        assert typing["name"]
        b.send_json({"type": "typing", "conversation_id": conv, "mode": "note"})
        typing = next_of(a, "typing")
        assert (typing["agent_id"], typing["mode"]) == (ben.id, "note")
        a.send_json({"type": "viewing", "conversation_id": None})  # Ana goes back to her list
        shows(b, [])
        a.send_json({"type": "viewing", "conversation_id": conv})
        shows(b, [ana.id])
    # Ana's tab closed with its socket: Ben, still there, is told.
    with connect(client, ben) as b:
        until(b, is_ready)
        with connect(client, ana) as a:
            until(a, is_ready)
            a.send_json({"type": "viewing", "conversation_id": conv})
            b.send_json({"type": "viewing", "conversation_id": conv})
            shows(b, [ana.id])
        shows(b, [])


def test_a_note_being_typed_never_reaches_the_customer(client: TestClient, db: Database) -> None:
    conv, ben, ana, _ = setup(client, db)
    widget: list[tuple[int, str]] = []
    client.app.state.hub.hints.on_agent_typing(lambda c, name: widget.append((c, name)))  # type: ignore[attr-defined]
    with connect(client, ben) as b, connect(client, ana) as a:
        until(b, is_ready), until(a, is_ready)
        a.send_json({"type": "viewing", "conversation_id": conv})
        shows(a, [])
        b.send_json({"type": "typing", "conversation_id": conv, "mode": "note"})
        assert next_of(a, "typing")["mode"] == "note"
        assert widget == []
        b.send_json({"type": "typing", "conversation_id": conv, "mode": "reply"})
        assert next_of(a, "typing")["mode"] == "reply"
        assert [c for c, _ in widget] == [conv]


def test_an_agent_who_may_not_read_it_learns_nothing_and_is_not_shown(client: TestClient, db: Database) -> None:
    conv, ben, _, outsider = setup(client, db)
    with connect(client, ben) as b, connect(client, outsider) as o:
        until(b, is_ready), until(o, is_ready)
        b.send_json({"type": "viewing", "conversation_id": conv})
        next_of(b, "viewers")
        o.send_json({"type": "viewing", "conversation_id": conv})
        o.send_json({"type": "typing", "conversation_id": conv, "mode": "note"})
        o.send_json({"type": "viewing", "conversation_id": 2**31 - 1})  # no such conversation: the same silence
        nothing_but_pong(o)
        b.send_json({"type": "typing", "conversation_id": conv})
        nothing_but_pong(b)  # the outsider joined nothing and typed nowhere Ben could see
        nothing_but_pong(o)  # and heard nothing of Ben's typing


def test_a_conversation_moved_away_stops_the_hints(client: TestClient, db: Database) -> None:
    conv, ben, ana, _ = setup(client, db)
    with connect(client, ben) as b, connect(client, ana) as a:
        until(b, is_ready), until(a, is_ready)
        b.send_json({"type": "viewing", "conversation_id": conv})
        a.send_json({"type": "viewing", "conversation_id": conv})
        shows(b, [ana.id])
        billing = create_team(db)
        move(db, conv, team_id=billing)
        a.send_json({"type": "typing", "conversation_id": conv})
        frames = until(b, kind("conversation.assigned"))
        nothing_but_pong(b)
        assert not [f for f in frames if f["type"] == "typing"]


def test_malformed_frames_are_refused_with_a_reason(client: TestClient, db: Database) -> None:
    conv, ben, _, _ = setup(client, db)
    with connect(client, ben) as b:
        until(b, is_ready)
        for frame in ({"type": "viewing", "conversation_id": "7"}, {"type": "viewing", "conversation_id": 2**31},
                      {"type": "typing", "conversation_id": 2**40},
                      {"type": "typing", "conversation_id": conv, "mode": "shout"}):
            b.send_json(frame)
            assert receive(b)["type"] == "error"
