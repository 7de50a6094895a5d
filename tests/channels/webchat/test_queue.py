"""A waiting visitor's place in the queue and the estimated wait (issue 16), on SQLite and
PostgreSQL: the hub (`HubPort.queue_status_async`, hub/routing/waiting.py) places each in the router's
order from one read of the team's queue per second, shared by every customer asking, and estimates
only from real assignments; the socket pushes it, and clears it when an agent takes the chat."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from config.settings import Settings
from hub.db import Database
from hub.routing.waiting import LINE_SECONDS, Queues, queue_status
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
    # An agent has the first: not waiting; the others move up once the team's queue is read again.
    wait_for(lambda: [p and p[0] for p in places()] == [None, 1, 2], what="the others moved up")
    after = places()
    assert all(p[2] == 1 for p in after[1:])
    # The first customer's wait is now known: the others' estimate comes from it, longer further back.
    assert after[1][1] is not None and after[2][1] is not None and after[2][1] >= after[1][1]
    assert asyncio.run(hub.queue_status_async(999_999)) is None


def test_one_read_of_the_teams_queue_places_all_its_customers_until_it_is_a_second_old(
        client: TestClient, hub: Hub) -> None:
    key = api_key(hub.db)
    waiting = [int(str(inbound(client, key, email=f"line{i}@example.com")["conversation_id"])) for i in range(6)]
    now = [0.0]
    queues = Queues(clock=lambda: now[0])
    statements: list[str] = []
    asking = threading.get_ident()  # the hub's router reads queues too, in threads of its own

    def places() -> list[int | None]:
        with hub.db.read() as s:
            return [None if (q := queue_status(s, c, queues)) is None else q.position for c in waiting]

    def queue_reads() -> int:  # statements over the team's conversations, not one conversation's row
        return sum("FROM conversations" in st and "conversations.id =" not in st for st in statements)

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == asking:
            statements.append(statement)

    event.listen(hub.db.engine, "before_cursor_execute", seen)
    try:
        assert places() == [1, 2, 3, 4, 5, 6]
        assert places() == [1, 2, 3, 4, 5, 6]
        assert queue_reads() == 1
        online(client, hub.db, {"api": 1})  # takes the first in line
        wait_for(lambda: places()[0] is None, what="the first in line assigned")  # its own row says so at once
        assert places()[1:] == [2, 3, 4, 5, 6] and queue_reads() == 1  # the others: as of the last read
        now[0] += LINE_SECONDS
        assert places() == [None, 1, 2, 3, 4, 5]
        assert queue_reads() == 2
    finally:
        event.remove(hub.db.engine, "before_cursor_execute", seen)


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
