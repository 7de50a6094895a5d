"""Text the databases would treat differently (PostgreSQL refuses a NUL character and a value
longer than its column; SQLite stores both) is refused with the same 4xx on both, naming the
field, and nothing is stored: the inbound API, any channel through the hub's port, the agents' API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.agents.models import Agent, Team
from hub.conversations.models import Message
from hub.db import Database
from hub.ports import Attachment, ContactRef, InboundMessage, RejectedMessage
from tests.factories import api_key, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


INBOUND = {
    "text": ({"text": "a\x00b"}, "text: must not contain a NUL character"),
    "subject": ({"subject": "re\x00"}, "subject: must not contain a NUL character"),
    "name": ({"contact": {"email": "n@example.com", "name": "Ann\x00"}}, "contact.name: must not contain"),
    "external_id": ({"external_id": "e\x00"}, "external_id: must not contain a NUL character"),
    "html": ({"html": "<p>\x00</p>"}, "html: must not contain a NUL character"),
    "attachment": ({"attachments": [{"url": "https://x.example/a", "filename": "a\x00.pdf"}]},
                   "attachments.0.filename: must not contain"),
    "source-5000": ({"source": "s" * 5_000}, "source:"),
    # An integer beyond 64 bits cannot be written into the stored JSON: it was a 500 on both.
    "attachment-size-2**70": ({"attachments": [{"url": "https://x.example/a", "size": 2**70}]},
                              "attachments.0.size:"),
}


@pytest.mark.parametrize("case", list(INBOUND))
def test_the_inbound_api_refuses_unstorable_text_alike(client: TestClient, db: Database, case: str) -> None:
    key = api_key(db)
    fields, words = INBOUND[case]
    body = {"source": "crm", "external_id": "m-1", "contact": {"email": "c@example.com"}, "text": "hello", **fields}
    resp = client.post("/api/v1/inbound/messages", json=body, headers={"X-Api-Key": key})
    assert resp.status_code == 422, resp.text
    assert words in resp.json()["message"]
    assert _count(db, Message) == 0
    assert inbound(client, key, text="fine")["duplicate"] is False


PORT = {
    "source-5000": ({"source": "s" * 5_000}, "source: must be at most 200 characters"),
    "external_id-100kb": ({"external_id": "x" * 100_000}, "external_id: must be at most 500 characters"),
    "nul-in-text": ({"text": "a\x00"}, "text: must not contain a NUL character"),
    "nul-in-name": ({"contact": ContactRef(phone="+14155550100", name="\x00")}, "contact.name: must not"),
    "long-phone": ({"contact": ContactRef(phone="+1" * 40)}, "contact.phone: must be at most 32 characters"),
    "attachment-size-2**70": ({"attachments": [Attachment(url="https://x.example/a", size=2**70)]},
                              "attachments.0.size: must be a number of bytes"),
}


@pytest.mark.parametrize("case", list(PORT))
def test_the_hubs_port_refuses_unstorable_messages_of_any_channel_alike(
    client: TestClient, db: Database, case: str
) -> None:
    fields, words = PORT[case]
    message = InboundMessage(**{"channel": "sms", "source": "+14155550000", "ingest_scope": "twilio",
                                "external_id": "SM1", "contact": ContactRef(phone="+14155550100"),
                                "text": "hello", **fields})
    with pytest.raises(RejectedMessage, match=words.replace("+", r"\+")):
        client.app.state.hub.ingest(message)  # type: ignore[attr-defined]
    assert _count(db, Message) == 0


def test_the_agents_api_refuses_a_nul_in_any_text_alike(client: TestClient, db: Database) -> None:
    conv_id = inbound(client, api_key(db))["conversation_id"]
    admin = login(client, db, "admin")
    agents, teams = _count(db, Agent), _count(db, Team)
    refused = [
        client.post("/api/v1/agents", json={"email": "x@example.com", "name": "X\x00", "password": "long-enough"},
                    headers=admin.headers),
        client.post("/api/v1/agents", json={"email": "y@example.com", "name": "Y", "password": "long-enough",
                                            "skills": ["es\x00"]}, headers=admin.headers),
        client.post("/api/v1/teams", json={"name": "T\x00"}, headers=admin.headers),
        client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "hi\x00"}, headers=admin.headers),
        client.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "\x00"}, headers=admin.headers),
        client.post("/api/v1/supervisor/assign", json={"conversation_ids": [conv_id], "note": "\x00"},
                    headers=admin.headers),
    ]
    for resp, field in zip(refused, ["name", "skills", "name", "text", "text", "note"], strict=True):
        assert resp.status_code == 422, resp.text
        assert resp.json()["message"] == f"{field}: must not contain a NUL character"
    assert (_count(db, Agent), _count(db, Team), _count(db, Message)) == (agents, teams, 1)
