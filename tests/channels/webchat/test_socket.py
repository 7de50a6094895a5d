"""The visitor socket against a real hub, on SQLite and PostgreSQL: who may open it, what a visitor
sees (their own conversations, never notes), messages stored once per client id, rate limits, and
signed identities joining the known customer while typed emails do not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.websockets import WebSocketDisconnect

from channels.webchat.identity import identity_hash
from config.app import create_app
from config.settings import Settings
from hub.db import Database
from tests.conftest import make_settings, wait_for
from tests.factories import AgentLogin, api_key, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
SHOP = "https://shop.example"
SECRET = "shop-identity-secret"
WIDGETS = [
    {"id": "shop", "name": "Shop", "allowed_origins": [SHOP], "prechat_fields": ["name", "email"],
     "identity_secret": SECRET},
    {"id": "bank", "allowed_origins": ["https://bank.example"], "identity_secret": SECRET, "require_identity": True},
]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, secret_key="test-hub-key",
                         webchat={"widgets": WIDGETS, "visitor_messages_per_10s": 3, "address_messages_per_10s": 100})


@pytest.fixture
def db(client: TestClient) -> Database:
    return client.app.state.hub.db  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def admin(client: TestClient, db: Database) -> AgentLogin:
    return login(client, db, "admin")


class Visitor:
    """One browser tab's socket: hello sent, welcome read."""

    def __init__(self, ws: Any, hello: dict[str, Any]) -> None:
        self.ws = ws
        ws.send_json({"type": "hello", **hello})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome", welcome
        self.token: str = welcome["token"]
        self.events: list[dict[str, Any]] = []

    def say(self, text: str, client_id: str, **extra: Any) -> dict[str, Any]:
        self.ws.send_json({"type": "message", "client_id": client_id, "text": text, **extra})
        return self.next("ack", "error")

    def next(self, *types: str) -> dict[str, Any]:
        """The next frame of these types; events read on the way are kept."""
        while True:
            frame = self.ws.receive_json()
            if frame["type"] == "event":
                self.events.append(frame)
            if frame["type"] in types:
                return frame

    def event_where(self, check: Any) -> dict[str, Any]:
        for seen in self.events:
            if check(seen):
                return seen
        while True:
            frame = self.next("event")
            if check(frame):
                return frame


@pytest.fixture
def visit(client: TestClient) -> Iterator[Any]:
    opened: list[Any] = []

    def open_visit(hello: dict[str, Any] | None = None, *, widget: str = "shop", origin: str = SHOP) -> Visitor:
        ctx = client.websocket_connect(f"/ws/widget?widget={widget}", headers={"origin": origin})
        ws = ctx.__enter__()
        opened.append(ctx)
        return Visitor(ws, {"token": None, "last_event_id": 0, **(hello or {})})

    yield open_visit
    for ctx in reversed(opened):
        ctx.__exit__(None, None, None)


def refused(client: TestClient, path: str, origin: str | None, hello: dict[str, Any] | None = None) -> int:
    headers = {"origin": origin} if origin else {}
    try:
        with client.websocket_connect(path, headers=headers) as ws:
            ws.send_json({"type": "hello", "token": None, "last_event_id": 0, **(hello or {})})
            ws.receive_json()
            ws.receive_json()
    except WebSocketDisconnect as closed:
        return closed.code
    raise AssertionError("the socket stayed open")


def first_words(visitor: Visitor, db: Database, text: str, client_id: str) -> int:
    """The visitor writes and sees their message come back; its conversation's id."""
    ack = visitor.say(text, client_id)
    visitor.event_where(lambda f: f["data"].get("id") == ack["message_id"])
    return conversation_of(db, ack["message_id"])[0]


def conversation_of(db: Database, message_id: int) -> tuple[int, int]:
    with db.read() as s:
        row = s.execute(text("SELECT conversation_id, contact_id FROM messages WHERE id = :m"), {"m": message_id}).one()
        return int(row[0]), int(row[1])


def test_another_sites_origin_or_no_origin_is_refused_before_the_handshake(client: TestClient) -> None:
    assert refused(client, "/ws/widget?widget=shop", "https://evil.example") == 1008
    assert refused(client, "/ws/widget?widget=shop", None) == 1008
    assert refused(client, "/ws/widget?widget=nope", SHOP) == 1008
    assert refused(client, "/ws/widget?widget=bank", SHOP) == 1008  # the shop may not use the bank's widget


def test_a_stolen_token_is_useless_from_another_origin(client: TestClient, visit: Any) -> None:
    victim = visit()
    victim.say("my order 1234 is late", "victim-message-1")
    assert refused(client, "/ws/widget?widget=shop", "https://evil.example", {"token": victim.token}) == 1008


def test_a_conversation_both_ways_live_with_the_agents_name_and_no_notes(
        client: TestClient, db: Database, visit: Any, admin: AgentLogin) -> None:
    visitor = visit({"prechat": {"name": "Ana", "email": "ana-new@example.com"}})
    ack = visitor.say("Hello, is anyone there?", "first-message-1")
    assert ack["type"] == "ack"
    conversation_id, _ = conversation_of(db, ack["message_id"])
    mine = visitor.event_where(lambda f: f["event"] == "message.created" and f["data"]["id"] == ack["message_id"])
    assert mine["data"]["direction"] == "in" and mine["data"]["text"] == "Hello, is anyone there?"

    note = client.post(f"/api/v1/conversations/{conversation_id}/notes", headers=admin.headers,
                       json={"text": "SECRET NOTE: VIP, refund without asking"})
    assert note.status_code == 201, note.text
    reply = client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=admin.headers,
                        json={"text": "Hi Ana, I am here."})
    assert reply.status_code == 201, reply.text
    answer = visitor.event_where(lambda f: f["data"].get("direction") == "out")
    assert answer["data"]["text"] == "Hi Ana, I am here."
    assert answer["data"]["agent_name"].startswith("Admin ")
    # The note was written before the reply: had it been sent, it would have come first.
    assert not any("SECRET" in str(f) for f in visitor.events)
    assert all(f["conversation_id"] == conversation_id for f in visitor.events)


def test_a_resend_after_a_lost_ack_is_stored_once(client: TestClient, db: Database, visit: Any) -> None:
    visitor = visit()
    first = visitor.say("only once please", "resend-me-123")
    again = visitor.say("only once please", "resend-me-123")
    assert first["message_id"] == again["message_id"]
    with db.read() as s:
        count = s.execute(text("SELECT COUNT(*) FROM messages WHERE text = 'only once please'")).scalar_one()
    assert count == 1


def test_a_reload_resumes_after_the_last_event_seen_with_nothing_lost_or_repeated(
        client: TestClient, db: Database, visit: Any, admin: AgentLogin) -> None:
    first_tab = visit()
    ack = first_tab.say("first", "reload-first-1")
    conversation_id, _ = conversation_of(db, ack["message_id"])
    seen = first_tab.event_where(lambda f: f["data"].get("id") == ack["message_id"])
    first_tab.ws.close()
    client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=admin.headers,
                json={"text": "answer while away"})
    again = visit({"token": first_tab.token, "last_event_id": seen["id"]})
    answer = again.event_where(lambda f: f["data"].get("direction") == "out")
    assert answer["data"]["text"] == "answer while away"
    assert all(f["id"] > seen["id"] for f in again.events)
    # From the start: the whole history of this visitor, their first message included.
    fresh = visit({"token": first_tab.token})
    fresh.event_where(lambda f: f["data"].get("text") == "answer while away")
    assert [f["data"].get("text") for f in fresh.events if f["event"] == "message.created"] == [
        "first", "answer while away"]


def test_a_forged_conversation_id_writes_into_the_visitors_own_conversation_only(
        client: TestClient, db: Database, visit: Any) -> None:
    other = inbound(client, api_key(db), email="someone-else@example.com", text="private to someone else")
    visitor = visit()
    ack = visitor.say("let me in", "forged-conv-1", conversation_id=other["conversation_id"])
    conversation_id, _ = conversation_of(db, ack["message_id"])
    assert conversation_id != other["conversation_id"]
    visitor.event_where(lambda f: f["data"].get("id") == ack["message_id"])
    assert not any("private to someone else" in str(f) for f in visitor.events)


def test_too_many_messages_get_a_clear_error_and_the_socket_stays_usable(visit: Any) -> None:
    visitor = visit()
    answers = [visitor.say(f"spam {i}", f"spam-message-{i}") for i in range(4)]
    assert [a["type"] for a in answers[:3]] == ["ack"] * 3
    assert answers[3]["code"] == "rate_limited" and answers[3]["retry_after"] > 0
    assert answers[3]["client_id"] == "spam-message-3"
    visitor.ws.send_json({"type": "ping"})
    assert visitor.next("pong")["type"] == "pong"
    other = visit()  # another visitor from the same address is not throttled by the first one's budget
    assert other.say("hello", "other-visitor-1")["type"] == "ack"


def test_the_address_limit_holds_whatever_the_visitor(database_url: str) -> None:
    settings = make_settings(database_url, secret_key="k", webchat={
        "widgets": WIDGETS, "visitor_messages_per_10s": 100, "address_messages_per_10s": 2})
    with TestClient(create_app(settings)) as client:
        answers = []
        for i in range(3):  # three visitors (fresh tokens) from one address
            with client.websocket_connect("/ws/widget?widget=shop", headers={"origin": SHOP}) as ws:
                answers.append(Visitor(ws, {"token": None, "last_event_id": 0}).say("hi", f"address-limit-{i}"))
    assert [a["type"] for a in answers] == ["ack", "ack", "error"]
    assert answers[2]["code"] == "rate_limited"


def test_bad_frames_are_answered_not_fatal(visit: Any) -> None:
    visitor = visit()
    visitor.ws.send_text("not json")
    assert visitor.next("error")["code"] == "bad_frame"
    visitor.ws.send_json({"type": "message", "client_id": "short", "text": "x"})
    assert visitor.next("error")["field"] == "client_id"
    visitor.ws.send_json({"type": "message", "client_id": "long-text-1", "text": "x" * 6000})
    assert visitor.next("error")["field"] == "text"
    visitor.ws.send_json({"type": "prechat", "name": "Ana", "email": "not an email"})
    assert visitor.next("error")["field"] == "email"


def test_a_required_identity_missing_or_wrong_is_refused(client: TestClient) -> None:
    bank = "https://bank.example"
    assert refused(client, "/ws/widget?widget=bank", bank) == 4403
    wrong = {"identifier": "u1", "email": "", "hash": identity_hash("guess", "u1")}
    assert refused(client, "/ws/widget?widget=bank", bank, {"identity": wrong}) == 4403
    with client.websocket_connect("/ws/widget?widget=bank", headers={"origin": bank}) as ws:
        ws.send_json({"type": "hello", "token": None, "last_event_id": 0,
                      "identity": {"identifier": "u1", "email": "", "hash": identity_hash(SECRET, "u1")}})
        assert ws.receive_json()["type"] == "welcome"


def test_a_signed_email_joins_the_known_customer_and_a_typed_one_does_not(
        client: TestClient, db: Database, visit: Any) -> None:
    known = inbound(client, api_key(db), email="known@example.com", text="from the API")
    typed = visit({"prechat": {"name": "Eve", "email": "known@example.com"}})
    ack = typed.say("I am known@example.com, trust me", "typed-email-1")
    _, contact = conversation_of(db, ack["message_id"])
    assert contact != known["contact_id"]
    typed.event_where(lambda f: f["data"].get("id") == ack["message_id"])
    assert not any("from the API" in str(f) for f in typed.events)

    def suggested() -> int:
        with db.read() as s:
            return int(s.execute(text("SELECT COUNT(*) FROM events WHERE type = 'contact.match_suggested' "
                                      "AND contact_id = :c"), {"c": known["contact_id"]}).scalar_one())
    wait_for(lambda: suggested() == 1, what="the typed address suggested (claimed after the message)")

    identity = {"identifier": "user-42", "email": "known@example.com",
                "hash": identity_hash(SECRET, "user-42", "known@example.com")}
    signed = visit({"identity": identity})
    ack = signed.say("signed in now", "signed-email-1")
    assert conversation_of(db, ack["message_id"])[1] == known["contact_id"]
    signed.event_where(lambda f: f["data"].get("text") == "from the API")  # their history, as theirs


def test_an_agents_reply_is_delivered_when_the_visitor_is_on_the_page(
        client: TestClient, db: Database, visit: Any, admin: AgentLogin) -> None:
    visitor = visit()
    conversation_id = first_words(visitor, db, "are you there?", "delivery-status-1")
    reply = client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=admin.headers,
                        json={"text": "yes"}).json()

    def status() -> str:
        with db.read() as s:
            return str(s.execute(text("SELECT delivery_status FROM messages WHERE id = :m"),
                                 {"m": reply["id"]}).scalar_one())
    wait_for(lambda: status() == "delivered", what="the reply marked delivered")


def test_the_config_answers_cors_for_the_widgets_sites_only(client: TestClient) -> None:
    ok = client.get("/widget/config/shop?lang=es", headers={"origin": SHOP})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SHOP
    assert ok.json()["texts"]["send"] == "Enviar" and ok.json()["prechat_fields"] == ["name", "email"]
    assert "identity_secret" not in ok.text and SECRET not in ok.text
    evil = client.get("/widget/config/shop", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    assert client.get("/widget/config/nope").status_code == 404


def test_typing_reaches_the_other_side_and_never_the_log(
        client: TestClient, db: Database, visit: Any, admin: AgentLogin) -> None:
    visitor = visit()
    conversation_id = first_words(visitor, db, "hello", "typing-both-1")
    with db.read() as s:
        events_before = s.execute(text("SELECT COUNT(*) FROM events")).scalar_one()
    with client.websocket_connect("/ws/agent", headers=admin.headers) as agent:
        agent.send_json({"type": "resume", "last_event_id": 0})
        assert agent.receive_json()["type"] == "ready"
        visitor.ws.send_json({"type": "typing"})
        while (hint := agent.receive_json())["type"] != "typing":
            pass
        assert hint == {"type": "typing", "conversation_id": conversation_id, "who": "customer"}
        agent.send_json({"type": "typing", "conversation_id": conversation_id})
        hint = visitor.next("typing")
        assert hint["who"] == "agent" and hint["name"].startswith("Admin ")
    with db.read() as s:
        assert s.execute(text("SELECT COUNT(*) FROM events")).scalar_one() == events_before


def test_an_agent_typing_elsewhere_is_not_shown_to_this_visitor(
        client: TestClient, db: Database, visit: Any, admin: AgentLogin) -> None:
    other = inbound(client, api_key(db), email="other-typing@example.com", text="not yours")
    visitor = visit()
    ack = visitor.say("hello", "typing-elsewhere-1")
    visitor.event_where(lambda f: f["data"].get("id") == ack["message_id"])
    with client.websocket_connect("/ws/agent", headers=admin.headers) as agent:
        agent.send_json({"type": "resume", "last_event_id": 0})
        agent.receive_json()
        agent.send_json({"type": "typing", "conversation_id": other["conversation_id"]})
        agent.send_json({"type": "ping"})
        while agent.receive_json()["type"] != "pong":
            pass
    visitor.ws.send_json({"type": "ping"})
    assert visitor.next("pong", "typing")["type"] == "pong"
