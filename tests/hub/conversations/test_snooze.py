"""Snoozed conversations come back when due; a customer writing again reopens a resolved one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from config.app import create_app
from hub.conversations.models import Conversation
from hub.db import Database
from hub.events.models import Event
from hub.runtime import Hub
from tests.conftest import make_settings, wait_for
from tests.factories import AgentLogin, api_key, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def quiet_client(database_url: str) -> Iterator[TestClient]:
    """No background loops: only an explicit hub.wake_snoozed() wakes anything."""
    with TestClient(create_app(make_settings(database_url, workers_in_web=False))) as c:
        yield c


def conv(client: TestClient, agent: AgentLogin, conv_id: int) -> dict[str, Any]:
    return client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["conversation"]  # type: ignore[no-any-return]


def snooze(client: TestClient, agent: AgentLogin, conv_id: int, until: datetime) -> None:
    resp = client.post(f"/api/v1/conversations/{conv_id}/status",
                       json={"status": "snoozed", "snoozed_until": until.isoformat()}, headers=agent.headers)
    assert resp.status_code == 200, resp.text


def fall_due(db: Database, conv_id: int) -> None:
    """Time passes: the snooze's wake-up time moves into the past (a snooze set a moment ahead
    through the API could already be due when the API checks it, on a slow machine)."""
    with db.write() as s:
        s.execute(update(Conversation).where(Conversation.id == conv_id)  # type: ignore[arg-type]
                  .values(snoozed_until=datetime.now(UTC) - timedelta(seconds=1)))


def status_changes(db: Database, conv_id: int) -> list[tuple[str, str, str | None, int | None]]:
    with db.read() as s:
        events = s.execute(select(Event).where(Event.conversation_id == conv_id,
                                               Event.type == "conversation.status_changed")
                           .order_by(Event.id)).scalars().all()  # type: ignore[arg-type]
    return [(e.payload["from"], e.payload["to"], e.payload.get("reason"), e.actor_agent_id) for e in events]


def test_the_hub_reopens_a_snoozed_conversation_when_it_is_due(client: TestClient, db: Database) -> None:
    conv_id = int(inbound(client, api_key(db))["conversation_id"])
    agent = login(client, db, "agent")
    snooze(client, agent, conv_id, datetime.now(UTC) + timedelta(hours=1))
    assert conv(client, agent, conv_id)["status"] == "snoozed"
    fall_due(db, conv_id)

    woken = wait_for(lambda: (c := conv(client, agent, conv_id))["status"] == "open" and c,
                     timeout=10, what="the snooze loop to reopen the conversation")
    assert woken["snoozed_until"] is None
    assert status_changes(db, conv_id) == [("open", "snoozed", None, agent.id), ("snoozed", "open", None, None)]


def test_wake_snoozed_wakes_only_what_is_due(quiet_client: TestClient) -> None:
    client = quiet_client
    hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
    key = api_key(hub.db)
    agent = login(client, hub.db, "agent")
    later = int(inbound(client, key, email="later@example.com")["conversation_id"])
    soon = int(inbound(client, key, email="soon@example.com")["conversation_id"])
    snooze(client, agent, later, datetime.now(UTC) + timedelta(hours=1))
    snooze(client, agent, soon, datetime.now(UTC) + timedelta(hours=1))
    assert hub.wake_snoozed() == 0
    fall_due(hub.db, soon)

    assert hub.wake_snoozed() == 1
    assert conv(client, agent, soon)["status"] == "open"
    assert conv(client, agent, later)["status"] == "snoozed"
    assert hub.wake_snoozed() == 0
    assert status_changes(hub.db, soon)[-1] == ("snoozed", "open", None, None)


def test_snoozing_again_moves_the_wake_up_time(quiet_client: TestClient) -> None:
    client = quiet_client
    hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
    conv_id = int(inbound(client, api_key(hub.db))["conversation_id"])
    agent = login(client, hub.db, "agent")
    snooze(client, agent, conv_id, datetime.now(UTC) + timedelta(minutes=5))
    later = datetime.now(UTC) + timedelta(hours=2)
    snooze(client, agent, conv_id, later)
    assert datetime.fromisoformat(conv(client, agent, conv_id)["snoozed_until"]) == later
    assert hub.wake_snoozed() == 0
    assert conv(client, agent, conv_id)["status"] == "snoozed"


@pytest.mark.parametrize("status", ["resolved", "pending", "snoozed"])
def test_a_customer_message_reopens_the_conversation(client: TestClient, db: Database, status: str) -> None:
    key = api_key(db)
    first = inbound(client, key, email="back@example.com", text="first")
    conv_id = int(first["conversation_id"])
    agent = login(client, db, "agent")
    body: dict[str, Any] = {"status": status}
    if status == "snoozed":
        body["snoozed_until"] = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    client.post(f"/api/v1/conversations/{conv_id}/status", json=body, headers=agent.headers)

    again = inbound(client, key, email="back@example.com", text="me again")
    assert again["conversation_id"] == conv_id  # the same conversation, not a new one
    c = conv(client, agent, conv_id)
    assert c["status"] == "open"
    assert (c["resolved_at"], c["snoozed_until"]) == (None, None)
    assert c["waiting_since"] is not None  # back in the queue
    assert status_changes(db, conv_id)[-1] == (status, "open", "customer_message", None)
    texts = [m["text"] for m in client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers)
             .json()["messages"]]
    assert texts == ["first", "me again"]


def test_after_the_reopen_window_a_new_conversation_starts(database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, reopen_window_days=0))) as client:
        db: Database = client.app.state.hub.db  # type: ignore[attr-defined]
        key = api_key(db)
        old = int(inbound(client, key, email="years@example.com", text="long ago")["conversation_id"])
        agent = login(client, db, "agent")
        client.post(f"/api/v1/conversations/{old}/status", json={"status": "resolved"}, headers=agent.headers)
        new = inbound(client, key, email="years@example.com", text="hello again")
        assert new["conversation_id"] != old
        assert conv(client, agent, old)["status"] == "resolved"
        assert conv(client, agent, int(new["conversation_id"]))["status"] == "open"
        # One customer, both conversations on their record.
        contact = client.get(f"/api/v1/contacts/{new['contact_id']}", headers=agent.headers).json()
        assert [c["id"] for c in contact["conversations"]] == [new["conversation_id"], old]
