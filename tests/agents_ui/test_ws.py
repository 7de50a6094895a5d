"""The agent websocket: who may connect, resume with replay in order and exactly once, `ready`, live
events, `resync_required`, and which events each agent receives."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from config.app import create_app
from hub.agents import actions as agent_actions
from hub.conversations import actions as conv_actions
from hub.db import Database
from hub.events import log
from hub.events.models import Event
from tests.conftest import make_settings
from tests.factories import PASSWORD, AgentLogin, api_key, create_agent, create_team, inbound, login

Frame = dict[str, Any]


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def receive(ws: WebSocketTestSession, timeout: float = 10.0) -> Frame:
    """The next frame, or fail after `timeout` (Starlette's receive_json waits forever).

    Reads the session's own stream through its portal; a close raises WebSocketDisconnect as usual.
    """
    async def next_message() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    try:
        message = ws.portal.call(next_message)
    except TimeoutError:
        raise AssertionError(f"no frame from the websocket within {timeout}s") from None
    ws._raise_on_close(message)
    frame: Frame = json.loads(message["text"])
    return frame


def until(ws: WebSocketTestSession, done: Callable[[Frame], bool]) -> list[Frame]:
    """Frames up to and including the first one `done` accepts."""
    frames = []
    while True:
        frame = receive(ws)
        frames.append(frame)
        if done(frame):
            return frames


def is_ready(frame: Frame) -> bool:
    return frame.get("type") == "ready"


def message_text(frame: Frame) -> str | None:
    if frame.get("type") in ("message.created", "note.created"):
        return str(frame["data"]["message"]["text"])
    return None


def says(text: str) -> Callable[[Frame], bool]:
    return lambda frame: message_text(frame) == text


def head(db: Database) -> int:
    with db.read() as s:
        return log.head_id(s)


def event_ids(db: Database, *, after: int, conversations: set[int] | None = None) -> list[int]:
    with db.read() as s:
        stmt = select(Event.id).where(Event.id > after).order_by(Event.id)  # type: ignore[arg-type, operator]
        if conversations is not None:
            stmt = stmt.where(Event.conversation_id.in_(conversations))  # type: ignore[union-attr]
        return [int(i) for i in s.execute(stmt).scalars()]


def move(db: Database, conversation_id: int, *, team_id: int | None, assignee_id: int | None = None) -> None:
    with db.write() as s:
        conv_actions.do_assign(s, conv_actions.get_conversation(s, conversation_id), assignee_id=assignee_id,
                               team_id=team_id, actor_agent_id=None, reason="test")


@contextmanager
def connect(client: TestClient, who: AgentLogin | None, last_event_id: int = 0) -> Iterator[WebSocketTestSession]:
    """A console's socket, already past the resume frame."""
    headers = who.headers if who else {}
    with client.websocket_connect("/ws/agent", headers=headers) as ws:
        ws.send_json({"type": "resume", "last_event_id": last_event_id})
        yield ws


# -- connecting --------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer hub_forged"}, {"Authorization": "Basic YTpi"},
                                     {"Cookie": "hub_session=forged"}])
def test_a_socket_without_a_valid_session_is_refused_with_a_reason(client: TestClient,
                                                                   headers: dict[str, str]) -> None:
    with client.websocket_connect("/ws/agent", headers=headers) as ws, \
            pytest.raises(WebSocketDisconnect) as refused:
        receive(ws)
    assert refused.value.code == 1008
    assert refused.value.reason.startswith("log in first")


def test_the_browser_connects_with_its_session_cookie(client: TestClient, db: Database) -> None:
    _, email = create_agent(db, "agent")
    assert client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    with client.websocket_connect("/ws/agent") as ws:  # the client sends the hub_session cookie
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert receive(ws) == {"type": "ready", "last_event_id": head(db)}


def test_an_ended_or_expired_session_cannot_open_a_socket(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    client.post("/api/v1/auth/logout", headers=agent.headers)
    with client.websocket_connect("/ws/agent", headers=agent.headers) as ws, pytest.raises(WebSocketDisconnect):
        receive(ws)
    with db.write() as s:
        expired = agent_actions.do_create_token(s, agent_actions.get_agent(s, agent.id), timedelta(seconds=-1))
    with client.websocket_connect("/ws/agent", headers={"Authorization": f"Bearer {expired}"}) as ws, \
            pytest.raises(WebSocketDisconnect):
        receive(ws)


def test_the_first_frame_must_be_resume(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    for first in ({"type": "ping"}, {"type": "resume", "last_event_id": "7"}, ["resume"],
                  {"type": "resume", "last_event_id": -1}, {"type": "resume", "last_event_id": True}):
        with client.websocket_connect("/ws/agent", headers=agent.headers) as ws:
            ws.send_json(first)
            with pytest.raises(WebSocketDisconnect) as closed:
                receive(ws)
            assert closed.value.code == 1003
            assert "resume" in closed.value.reason


# -- resume, replay, ready, live ---------------------------------------------------------------


def test_resume_from_now_then_live_events(client: TestClient, db: Database) -> None:
    key = api_key(db)
    inbound(client, key, text="before the agent came")
    agent = login(client, db, "agent")
    with connect(client, agent, 0) as ws:
        assert receive(ws) == {"type": "ready", "last_event_id": head(db)}  # nothing old is replayed
        result = inbound(client, key, email="live@example.com", text="are you there?")
        frames = until(ws, says("are you there?"))
        assert [f["type"] for f in frames] == ["conversation.created", "message.created"]
        created, message = frames
        assert created["conversation_id"] == message["conversation_id"] == result["conversation_id"]
        assert message["contact_id"] == result["contact_id"]
        assert set(message) == {"id", "type", "conversation_id", "contact_id", "actor_agent_id", "at", "data"}
        assert message["data"]["message"]["direction"] == "in"
        assert created["id"] < message["id"]


def test_replay_sends_every_event_after_n_in_order_exactly_once_then_ready_then_live(client: TestClient,
                                                                                     db: Database) -> None:
    key = api_key(db)
    agent = login(client, db, "supervisor")
    first = inbound(client, key, email="a@example.com", text="one")
    n = head(db)
    inbound(client, key, email="a@example.com", text="two")
    client.post(f"/api/v1/conversations/{first['conversation_id']}/notes", json={"text": "three"},
                headers=agent.headers)
    inbound(client, key, email="b@example.com", text="four")
    expected = event_ids(db, after=n)

    with connect(client, agent, n) as ws:
        frames = until(ws, is_ready)
        replayed = [f["id"] for f in frames[:-1]]
        assert replayed == expected
        assert [message_text(f) for f in frames if message_text(f)] == ["two", "three", "four"]
        assert frames[-1] == {"type": "ready", "last_event_id": expected[-1]}
        inbound(client, key, email="a@example.com", text="five")
        live = until(ws, says("five"))
        assert all(f["id"] > expected[-1] for f in live)

    # Reconnecting from the last id seen gives nothing twice.
    last = live[-1]["id"]
    with connect(client, agent, last) as ws:
        assert receive(ws) == {"type": "ready", "last_event_id": head(db)}


def assert_burst_arrives_whole(client: TestClient, db: Database, count: int) -> None:
    """`count` messages from 4 concurrent senders, then "the end": a supervisor's socket gets every
    event of them exactly once, in the log's order."""
    key = api_key(db)
    sup = login(client, db, "supervisor")
    with connect(client, sup, 0) as ws:
        start = receive(ws)["last_event_id"]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: inbound(client, key, email=f"c{i % 5}@example.com", text=f"burst {i}"),
                          range(count)))
        inbound(client, key, email="last@example.com", text="the end")
        frames = until(ws, says("the end"))
    ids = [f["id"] for f in frames]
    assert ids == sorted(set(ids)), "out of order or duplicated"
    assert ids == event_ids(db, after=start)[: len(ids)], "an event is missing"
    assert sorted(t for f in frames if (t := message_text(f)) and t != "the end") == \
        sorted(f"burst {i}" for i in range(count))


def test_live_events_arrive_in_order_exactly_once_under_concurrent_writers(client: TestClient, db: Database) -> None:
    assert_burst_arrives_whole(client, db, 24)


def test_a_socket_that_falls_behind_catches_up_from_the_log_losing_nothing(
        client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A console too slow for the live stream overflows its mailbox; it then re-reads the log from
    its last sent event. Here every mailbox holds nothing, so every batch goes that way."""
    bus = client.app.state.hub.bus  # type: ignore[attr-defined]
    subscribe = bus.subscribe
    monkeypatch.setattr(bus, "subscribe", lambda max_pending=0: subscribe(max_pending=0))
    assert_burst_arrives_whole(client, db, 12)


def test_notes_reach_agents_as_note_created_in_replay_and_live(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = inbound(client, key)["conversation_id"]
    author = login(client, db, "agent")
    reader = login(client, db, "agent")
    n = head(db)
    client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "replayed note", "mentions": [reader.id]},
                headers=author.headers)
    with connect(client, reader, n) as ws:
        [note, ready] = until(ws, is_ready)
        assert note["type"] == "note.created"
        assert note["actor_agent_id"] == author.id
        assert note["data"]["message"]["direction"] == "note"
        assert note["data"]["mentions"] == [reader.id]
        client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "live note"}, headers=author.headers)
        [live] = until(ws, says("live note"))
        assert live["type"] == "note.created"


def test_an_agent_receives_nothing_of_another_teams_conversations_a_supervisor_everything(
    client: TestClient, db: Database
) -> None:
    key = api_key(db)
    mine, other = create_team(db), create_team(db)
    agent = login(client, db, "agent", teams=[mine])
    sup = login(client, db, "supervisor")
    theirs = int(inbound(client, key, email="theirs@example.com", text="old secret")["conversation_id"])
    ours = int(inbound(client, key, email="ours@example.com", text="old ours")["conversation_id"])
    move(db, theirs, team_id=other)
    move(db, ours, team_id=mine)

    # Replay: from the very beginning.
    with connect(client, agent, 1) as ws:
        replayed = until(ws, is_ready)[:-1]
    assert {f["conversation_id"] for f in replayed} == {ours}
    assert [f["id"] for f in replayed] == event_ids(db, after=1, conversations={ours})
    with connect(client, sup, 1) as ws:
        replayed = until(ws, is_ready)[:-1]
    assert {f["conversation_id"] for f in replayed} == {theirs, ours}

    # Live: a message in their conversation, then one in ours; the agent's next frame is ours.
    with connect(client, agent, 0) as agent_ws:
        receive(agent_ws)
        with connect(client, sup, 0) as sup_ws:
            receive(sup_ws)
            inbound(client, key, email="theirs@example.com", text="new secret")
            client.post(f"/api/v1/conversations/{theirs}/notes", json={"text": "secret note"}, headers=sup.headers)
            inbound(client, key, email="ours@example.com", text="new ours")
            agent_frames = until(agent_ws, says("new ours"))
            sup_frames = until(sup_ws, says("new ours"))
    assert [message_text(f) for f in agent_frames] == ["new ours"]
    assert [message_text(f) for f in sup_frames if message_text(f)] == ["new secret", "secret note", "new ours"]


def test_a_conversation_moved_away_tells_the_previous_team_once_then_goes_quiet(client: TestClient,
                                                                              db: Database) -> None:
    key = api_key(db)
    mine, other = create_team(db), create_team(db)
    agent = login(client, db, "agent", teams=[mine])
    sup = login(client, db, "supervisor")
    conv_id = int(inbound(client, key, email="mover@example.com")["conversation_id"])
    move(db, conv_id, team_id=mine)
    with connect(client, agent, 0) as ws:
        receive(ws)
        resp = client.post(f"/api/v1/conversations/{conv_id}/assign", json={"assignee_id": sup.id, "team_id": other},
                           headers=sup.headers)
        assert resp.status_code == 200
        inbound(client, key, email="mover@example.com", text="after the move")
        inbound(client, key, email="someone@example.com", text="sentinel")
        frames = until(ws, says("sentinel"))
    moved = [f for f in frames if f["conversation_id"] == conv_id]
    assert [f["type"] for f in moved] == ["conversation.assigned"]
    assert moved[0]["data"]["from_team_id"] == mine
    assert moved[0]["data"]["team_id"] == other


def test_an_agents_own_reply_comes_back_live(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv_id = inbound(client, key)["conversation_id"]
    agent = login(client, db, "agent")
    with connect(client, agent, 0) as ws:
        receive(ws)
        client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "my answer"}, headers=agent.headers)
        [frame] = until(ws, says("my answer"))
    assert frame["actor_agent_id"] == agent.id
    assert frame["data"]["message"]["direction"] == "out"


# -- resync ------------------------------------------------------------------------------------


def test_an_unknown_last_event_id_requires_a_resync(client: TestClient, db: Database) -> None:
    key = api_key(db)
    inbound(client, key)
    agent = login(client, db, "agent")
    h = head(db)
    with connect(client, agent, h + 100) as ws:
        assert receive(ws) == {"type": "resync_required", "head_event_id": h}
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
        assert closed.value.code == 4409


@pytest.fixture
def short_memory_client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(database_url, replay_limit=5))) as c:
        yield c


def test_a_last_event_id_too_far_behind_requires_a_resync(short_memory_client: TestClient) -> None:
    client = short_memory_client
    db: Database = client.app.state.hub.db  # type: ignore[attr-defined]
    key = api_key(db)
    agent = login(client, db, "supervisor")
    inbound(client, key, email="x@example.com", text="start")
    n = head(db)
    inbound(client, key, email="x@example.com", text="a")  # one event each: the conversation exists
    inbound(client, key, email="x@example.com", text="b")
    with connect(client, agent, n) as ws:  # two behind: replayed
        assert [message_text(f) for f in until(ws, is_ready)] == ["a", "b", None]
    for i in range(4):
        inbound(client, key, email="x@example.com", text=f"more {i}")
    with connect(client, agent, n) as ws:  # six behind, the limit is five
        assert receive(ws) == {"type": "resync_required", "head_event_id": head(db)}
        with pytest.raises(WebSocketDisconnect):
            receive(ws)
    with connect(client, agent, head(db)) as ws:  # resuming from the head works again
        assert receive(ws) == {"type": "ready", "last_event_id": head(db)}


# -- frames from the console -------------------------------------------------------------------


def test_ping_presence_and_bad_frames_after_ready(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    colleague = login(client, db, "agent")
    with connect(client, colleague, 0) as colleague_ws:
        receive(colleague_ws)
        with connect(client, agent, 0) as ws:
            receive(ws)
            ws.send_json({"type": "ping"})
            assert receive(ws) == {"type": "pong"}
            ws.send_text("not json")
            assert receive(ws) == {"type": "error", "message": "frames must be JSON objects"}
            ws.send_json({"type": "dance"})
            assert receive(ws) == {"type": "error", "message": "unknown frame type 'dance'"}
            ws.send_json({"type": "presence", "presence": "busy"})
            error = receive(ws)
            assert error["type"] == "error" and "presence must be one of" in error["message"]
            ws.send_json({"type": "presence", "presence": "away"})
            [changed] = until(ws, lambda f: f.get("type") == "presence.changed")
            assert changed["data"] == {"agent_id": agent.id, "from": "offline", "presence": "away"}
            # The socket still works after all that.
            ws.send_json({"type": "ping"})
            assert receive(ws) == {"type": "pong"}
        # Colleagues see presence changes too (the console shows who is around).
        [seen] = until(colleague_ws, lambda f: f.get("type") == "presence.changed")
        assert seen["data"]["agent_id"] == agent.id
    me = client.get("/api/v1/agents/me", headers=agent.headers).json()
    assert me["presence"] == "away"
