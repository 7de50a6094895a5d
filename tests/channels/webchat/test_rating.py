"""A visitor rates their resolved chat through the widget's socket (CSAT): once per resolution, only
their own conversation; the rating comes back to them, and agents see it among the conversation's
events. Against a real hub, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from hub.db import Database
from tests.channels.webchat.test_socket import SHOP, conversation_of
from tests.conftest import make_settings
from tests.factories import login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, secret_key="test-hub-key",
                         webchat={"widgets": [{"id": "shop", "allowed_origins": [SHOP]}]})


@pytest.fixture
def db(client: TestClient) -> Database:
    return client.app.state.hub.db  # type: ignore[attr-defined, no-any-return]


def rate(visitor: Any, conversation_id: object, score: object, comment: str | None = None) -> dict[str, Any]:
    visitor.ws.send_json({"type": "rate", "conversation_id": conversation_id, "score": score, "comment": comment})
    return visitor.next("rated", "error")  # type: ignore[no-any-return]


def test_a_visitor_rates_their_resolved_chat_once_and_agents_see_it(client: TestClient, db: Database,
                                                                    visit: Any) -> None:
    visitor, stranger = visit(), visit()
    ack = visitor.say("my parcel is lost", "lost-parcel-1")
    conversation_id, _ = conversation_of(db, ack["message_id"])
    visitor.event_where(lambda f: f["data"].get("id") == ack["message_id"])
    assert rate(visitor, conversation_id, 5)["code"] == "rejected"  # not resolved yet

    admin = login(client, db, "admin")
    resolved = client.post(f"/api/v1/conversations/{conversation_id}/status", headers=admin.headers,
                           json={"status": "resolved"})
    assert resolved.status_code == 200, resolved.text
    visitor.event_where(lambda f: f["event"] == "conversation.resolved")

    assert rate(stranger, conversation_id, 1)["field"] == "rating"  # not in their feed: never theirs
    assert rate(visitor, conversation_id, 9)["code"] == "invalid"
    assert rate(visitor, conversation_id, 4, "Found it, thanks <b>a lot</b>") == {
        "type": "rated", "conversation_id": conversation_id}
    back = visitor.event_where(lambda f: f["event"] == "conversation.rated")
    assert back["data"] == {"score": 4, "comment": "Found it, thanks <b>a lot</b>"}
    again = rate(visitor, conversation_id, 1)
    assert again["code"] == "rejected" and "already" in again["message"]

    shown = client.get(f"/api/v1/conversations/{conversation_id}", headers=admin.headers).json()
    [rated] = [e for e in shown["events"] if e["type"] == "conversation.rated"]
    assert rated["data"] == {"score": 4, "comment": "Found it, thanks <b>a lot</b>"}
