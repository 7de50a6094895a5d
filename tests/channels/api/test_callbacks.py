"""Replies on API conversations leave through the outbox to the source's callback URL, here a real
HTTP server on a free local port: success, a transient failure then success, a permanent refusal."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from config.app import create_app
from config.settings import Settings
from hub.db import Database
from hub.outbox.models import OutboxItem
from tests.conftest import make_settings, wait_for
from tests.factories import AgentLogin, api_key, inbound, login
from tests.services import free_port

SECRET = "callback-signing-secret"


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.raw)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """An integrator's endpoint. Answers from `script` in order (status, body, headers), then 200."""

    port: int
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub-replies"

    def answer(self) -> tuple[int, str, dict[str, str]]:
        with self.lock:
            return self.script.pop(0) if self.script else (200, '{"ok": true}', {})

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, body, headers = rec.answer()
            with rec.lock:
                rec.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, raw))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", rec.port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(database_url: str, receiver: Receiver) -> Settings:
    return make_settings(database_url, api_channel={"callbacks": {"crm": receiver.url}, "callback_secret": SECRET})


def conversation(client: TestClient, agent: AgentLogin, conv_id: int) -> dict[str, Any]:
    resp = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def message(client: TestClient, agent: AgentLogin, conv_id: int, message_id: int) -> dict[str, Any]:
    return next(m for m in conversation(client, agent, conv_id)["messages"] if m["id"] == message_id)


def settled(client: TestClient, agent: AgentLogin, conv_id: int, message_id: int) -> dict[str, Any] | None:
    m = message(client, agent, conv_id, message_id)
    return m if m["delivery_status"] in ("delivered", "failed") else None


def reply(client: TestClient, agent: AgentLogin, conv_id: int, text: str) -> int:
    resp = client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": text}, headers=agent.headers)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def delivery_statuses(client: TestClient, agent: AgentLogin, contact_id: int, message_id: int) -> list[str]:
    items = client.get(f"/api/v1/contacts/{contact_id}/timeline?limit=200", headers=agent.headers).json()["items"]
    return [i["data"]["status"] for i in reversed(items)
            if i["type"] == "delivery.status_changed" and i["data"]["message_id"] == message_id]


def test_a_reply_is_posted_signed_to_the_callback_and_shown_delivered(client: TestClient, db: Database,
                                                                      receiver: Receiver) -> None:
    receiver.script.append((200, '{"ok": true}', {"X-Delivery-Id": "crm-789"}))
    result = inbound(client, api_key(db), source="crm", email="cb@example.com", subject="Refund", text="refund?")
    conv_id = int(result["conversation_id"])
    agent = login(client, db, "agent")
    message_id = reply(client, agent, conv_id, "Refund sent today")

    done = wait_for(lambda: settled(client, agent, conv_id, message_id), what="the reply to be delivered")
    assert done["delivery_status"] == "delivered"
    assert done["provider_id"] == "crm-789"
    assert done["delivery_error"] is None

    [req] = receiver.requests()
    assert req.path == "/hub-replies"
    assert req.headers["content-type"] == "application/json"
    expected_sig = "sha256=" + hmac.new(SECRET.encode(), req.raw, hashlib.sha256).hexdigest()
    assert req.headers["x-hub-signature"] == expected_sig
    body = req.json
    assert body["text"] == "Refund sent today"
    assert body["subject"] == "Refund"
    assert (body["conversation_id"], body["message_id"], body["contact_id"]) == (
        conv_id, message_id, result["contact_id"])
    assert body["source"] == "crm"
    assert req.headers["idempotency-key"] == f"hub-{body['delivery_id']}"
    assert delivery_statuses(client, agent, int(result["contact_id"]), message_id) == ["delivered"]


def test_a_transient_failure_is_retried_with_the_same_idempotency_key(client: TestClient, db: Database,
                                                                      receiver: Receiver) -> None:
    receiver.script.append((500, '{"error": "database busy"}', {}))
    result = inbound(client, api_key(db), source="crm", email="retry@example.com")
    conv_id = int(result["conversation_id"])
    agent = login(client, db, "agent")
    message_id = reply(client, agent, conv_id, "second time lucky")

    done = wait_for(lambda: settled(client, agent, conv_id, message_id), timeout=15,
                    what="the reply to be delivered on the retry")
    assert done["delivery_status"] == "delivered"
    assert done["delivery_error"] is None  # the 'retrying' note is gone once it went through
    first, second = receiver.requests()
    assert first.raw == second.raw
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    with db.read() as s:
        [item] = s.execute(select(OutboxItem).where(OutboxItem.message_id == message_id)).scalars()
    assert (item.status, item.attempts) == ("sent", 2)
    timeline = client.get(f"/api/v1/contacts/{result['contact_id']}/timeline", headers=agent.headers).json()["items"]
    [retry] = [i for i in timeline if i["type"] == "delivery.retry_scheduled"]
    assert retry["data"]["message_id"] == message_id
    assert "500" in retry["data"]["error"]


def test_a_permanent_refusal_shows_the_reply_failed_with_the_reason(client: TestClient, db: Database,
                                                                    receiver: Receiver) -> None:
    receiver.script.append((422, '{"error": "unknown customer 42"}', {}))
    result = inbound(client, api_key(db), source="crm", email="gone@example.com")
    conv_id = int(result["conversation_id"])
    agent = login(client, db, "agent")
    message_id = reply(client, agent, conv_id, "this will bounce")

    done = wait_for(lambda: settled(client, agent, conv_id, message_id), what="the reply to fail")
    assert done["delivery_status"] == "failed"
    assert "422" in done["delivery_error"]
    assert "unknown customer 42" in done["delivery_error"]
    assert len(receiver.requests()) == 1  # a 4xx is not retried
    assert delivery_statuses(client, agent, int(result["contact_id"]), message_id) == ["failed"]


def test_a_source_without_a_callback_fails_with_a_clear_reason(client: TestClient, db: Database,
                                                               receiver: Receiver) -> None:
    result = inbound(client, api_key(db), source="webform", email="form@example.com")
    agent = login(client, db, "agent")
    conv_id = int(result["conversation_id"])
    message_id = reply(client, agent, conv_id, "nowhere to go")
    done = wait_for(lambda: settled(client, agent, conv_id, message_id), what="the reply to fail")
    assert done["delivery_status"] == "failed"
    assert "no callback URL is configured for API source 'webform'" in done["delivery_error"]
    assert receiver.requests() == []


def test_internal_notes_never_reach_the_callback(client: TestClient, db: Database, receiver: Receiver) -> None:
    result = inbound(client, api_key(db), source="crm", email="private@example.com")
    conv_id = int(result["conversation_id"])
    agent = login(client, db, "agent")
    for text in ("customer is rude", "escalate?"):
        resp = client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": text}, headers=agent.headers)
        assert resp.status_code == 201
    message_id = reply(client, agent, conv_id, "the only thing the customer sees")
    wait_for(lambda: settled(client, agent, conv_id, message_id), what="the reply to be delivered")

    assert [r.json["text"] for r in receiver.requests()] == ["the only thing the customer sees"]
    with db.read() as s:
        queued = s.execute(select(OutboxItem.message_id).where(OutboxItem.conversation_id == conv_id)).scalars().all()
    assert list(queued) == [message_id]
    notes = [m for m in conversation(client, agent, conv_id)["messages"] if m["direction"] == "note"]
    assert [n["delivery_status"] for n in notes] == [None, None]


def test_an_unreachable_callback_gives_up_after_the_last_attempt(database_url: str) -> None:
    closed_port = free_port()
    settings = make_settings(database_url, delivery_max_attempts=1,
                             api_channel={"callbacks": {"crm": f"http://127.0.0.1:{closed_port}/x"}})
    with TestClient(create_app(settings)) as client:
        db: Database = client.app.state.hub.db  # type: ignore[attr-defined]
        conv_id = int(inbound(client, api_key(db), source="crm")["conversation_id"])
        agent = login(client, db, "agent")
        message_id = reply(client, agent, conv_id, "hello?")
        done = wait_for(lambda: settled(client, agent, conv_id, message_id), what="delivery to give up")
    assert done["delivery_status"] == "failed"
    assert "gave up after 1 attempts" in done["delivery_error"]
    assert "unreachable" in done["delivery_error"]
