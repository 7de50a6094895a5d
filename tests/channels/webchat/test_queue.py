"""A waiting visitor's place in the queue and the estimated wait (issue 16), on SQLite and
PostgreSQL: the hub's one query (`HubPort.queue_status_async`, hub/routing/waiting.py) counts in the
router's order and estimates only from real assignments; the socket pushes it, and clears it when an
agent takes the chat."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from hub.db import Database
from hub.runtime import Hub
from tests.channels.webchat.test_socket import SHOP, conversation_of
from tests.conftest import make_settings, wait_for
from tests.factories import AgentLogin, api_key, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, secret_key="test-hub-key",
                         webchat={"widgets": [{"id": "shop", "allowed_origins": [SHOP]}], "queue_refresh_seconds": 1})


@pytest.fixture
def hub(client: TestClient) -> Hub:
    return client.app.state.hub  # type: ignore[attr-defined, no-any-return]


def online(client: TestClient, db: Database, capacities: dict[str, int]) -> AgentLogin:
    agent = login(client, db, "agent", capacities=capacities)
    resp = client.post("/api/v1/agents/me/presence", json={"presence": "online"}, headers=agent.headers)
    assert resp.status_code == 200, resp.text
    return agent


def test_places_follow_the_routers_order_and_the_wait_is_unknown_until_someone_was_assigned(
        client: TestClient, hub: Hub) -> None:
    key = api_key(hub.db)
    waiting = [int(str(inbound(client, key, email=f"q{i}@example.com")["conversation_id"])) for i in range(3)]

    def places() -> list[Any]:
        statuses = [asyncio.run(hub.queue_status_async(c)) for c in waiting]
        return [None if s is None else (s.position, s.wait_seconds, s.agents_online) for s in statuses]

    assert places() == [(1, None, 0), (2, None, 0), (3, None, 0)]
    online(client, hub.db, {"api": 1})  # takes the first in line, and no more
    wait_for(lambda: places()[0] is None, what="the first in line assigned")
    after = places()
    assert after[0] is None  # an agent has it: not waiting
    assert [p[0] for p in after[1:]] == [1, 2] and all(p[2] == 1 for p in after[1:])
    # The first customer's wait is now known: the others' estimate comes from it, longer further back.
    assert after[1][1] is not None and after[2][1] is not None and after[2][1] >= after[1][1]
    assert asyncio.run(hub.queue_status_async(999_999)) is None


def test_the_visitor_is_told_their_place_and_it_clears_when_an_agent_joins(
        client: TestClient, hub: Hub, visit: Any) -> None:
    first, second = visit(), visit()
    ack = first.say("first in line", "queue-first-1")
    assert first.next("queue") == {"type": "queue", "conversation_id": conversation_of(hub.db, ack["message_id"])[0],
                                   "position": 1, "wait_minutes": None}
    second.say("second in line", "queue-second-1")
    assert second.next("queue")["position"] == 2

    online(client, hub.db, {"webchat": 1})
    joined = first.event_where(lambda f: f["event"] == "conversation.assigned")
    assert joined["data"]["agent_name"].startswith("Agent ")
    assert first.next("queue")["position"] is None
    # The server's next look (every second here) moves the second visitor up, with an estimate now.
    moved = second.next("queue")
    assert (moved["position"], moved["wait_minutes"]) == (1, 1)
