"""Addresses and attachments from outside: emails are checked with email-validator (a later mail
header must never carry two addresses or a Bcc), attachment links are http(s) only, and an SVG is
kept as a file, never marked as an image a console would render. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.agents.models import Agent
from hub.conversations.models import Message
from hub.db import Database
from hub.ports import Attachment, ContactRef, InboundMessage, RejectedMessage
from tests.factories import api_key, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

NOT_EMAILS = ["x@x.io,y@y.io", "a@b", "a@x.io\r\nBcc:victim@y.io", "a@x.test", "two@@x.io", "a b@x.io"]


def _post(client: TestClient, key: str, **fields: Any) -> Any:
    body = {"source": "crm", "external_id": f"m-{len(str(fields))}-{hash(str(fields))}",
            "contact": {"email": "c@example.com"}, "text": "hello", **fields}
    return client.post("/api/v1/inbound/messages", json=body, headers={"X-Api-Key": key})


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_the_inbound_api_and_agent_creation_refuse_what_is_not_one_email_address(
    client: TestClient, db: Database
) -> None:
    key = api_key(db)
    admin = login(client, db, "admin")
    agents = _count(db, Agent)
    for raw in NOT_EMAILS:
        resp = _post(client, key, contact={"email": raw})
        assert resp.status_code == 422, (raw, resp.text)
        assert resp.json()["message"].startswith("contact.email: not a valid email address"), resp.text
        resp = client.post("/api/v1/agents", json={"email": raw, "name": "N", "password": "long-enough"},
                           headers=admin.headers)
        assert resp.status_code == 422, (raw, resp.text)
        assert resp.json()["message"].startswith("email: not a valid email address"), resp.text
    assert _count(db, Message) == 0 and _count(db, Agent) == agents

    # Real addresses go through, stored lowercased; an international one too.
    assert _post(client, key, contact={"email": " Jane.Doe+1@Example.COM "}).status_code == 201
    assert _post(client, key, contact={"email": "josé@exämple.es"}).status_code == 201
    resp = client.post("/api/v1/agents", json={"email": "New.Agent@Example.com", "name": "N",
                                               "password": "long-enough"}, headers=admin.headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["email"] == "new.agent@example.com"


def test_attachment_links_are_http_only_and_svg_is_a_file(client: TestClient, db: Database) -> None:
    key = api_key(db)
    for url in ["javascript:alert(1)", "JavaScript://x.example/%0aalert(1)", "data:text/html,hi", "file:///etc/passwd"]:
        resp = _post(client, key, attachments=[{"url": url}])
        assert resp.status_code == 422, (url, resp.text)
        assert "attachments.0.url" in resp.json()["message"]
    assert _count(db, Message) == 0

    resp = _post(client, key, attachments=[
        {"url": "https://cdn.example/a.svg", "content_type": "image/svg+xml", "filename": "a.svg"},
        {"url": "https://cdn.example/b.png", "content_type": "image/png"},
        {"url": "HTTP://cdn.example/c.pdf", "content_type": "application/pdf"},
        {"url": "https://cdn.example/d"},
    ])
    assert resp.status_code == 201, resp.text
    with db.read() as s:
        stored = s.get(Message, resp.json()["message_id"])
        assert stored is not None
        assert [(a["url"].rsplit("/", 1)[1], a["kind"]) for a in stored.attachments] == [
            ("a.svg", "file"), ("b.png", "image"), ("c.pdf", "file"), ("d", "file")]


def test_any_channels_attachment_must_be_a_web_link(client: TestClient, db: Database) -> None:
    message = InboundMessage(channel="sms", source="+14155550000", ingest_scope="twilio", external_id="SM1",
                             contact=ContactRef(phone="+14155550100"), text="see this",
                             attachments=(Attachment("javascript:alert(1)", "image/png"),))
    with pytest.raises(RejectedMessage, match=r"attachments\.0\.url: must be an http or https URL"):
        client.app.state.hub.ingest(message)  # type: ignore[attr-defined]
    assert _count(db, Message) == 0
