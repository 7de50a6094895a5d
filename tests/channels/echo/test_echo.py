"""A channel added by settings alone: a message comes in through the echo channel's route, and an
agent's reply goes out through its `send`, through the real hub (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from config.app import create_app
from tests.channels.echo.adapter import EchoChannel
from tests.conftest import make_settings, wait_for
from tests.factories import login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    settings = make_settings(sqlite_url, extra_channels=["tests.channels.echo.adapter:make"])
    with TestClient(create_app(settings)) as c:
        yield c


def test_a_message_comes_in_and_the_agents_reply_goes_out_through_the_echo_channel(client: TestClient) -> None:
    echo = client.app.state.hub.adapters["echo"]  # type: ignore[attr-defined]
    assert isinstance(echo, EchoChannel)
    resp = client.post("/channels/echo/messages", json={"id": "e-1", "sender": "ada@example.com", "text": "ping"})
    assert resp.status_code == 201, resp.text
    conv_id = resp.json()["conversation_id"]

    agent = login(client, client.app.state.hub.db, "admin")  # type: ignore[attr-defined]
    conv = client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()
    assert conv["conversation"]["channel"] == "echo"
    assert [m["text"] for m in conv["messages"]] == ["ping"]

    reply = client.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "pong"}, headers=agent.headers)
    assert reply.status_code == 201, reply.text
    [sent] = wait_for(lambda: echo.sent, what="the reply to leave through the echo channel")
    assert (sent.text, sent.conversation_id, sent.to) == ("pong", conv_id, "ada@example.com")  # by address_kind
    wait_for(lambda: client.get(f"/api/v1/conversations/{conv_id}", headers=agent.headers).json()["messages"][-1][
        "delivery_status"] == "delivered", what="the reply's delivery status")


def test_the_echo_channel_and_its_task_are_listed_for_admins(client: TestClient) -> None:
    admin = login(client, client.app.state.hub.db, "admin")  # type: ignore[attr-defined]
    items = client.get("/api/v1/admin/channels", headers=admin.headers).json()["items"]
    assert [c["channel"] for c in items] == ["api", "webchat", "demo", "echo"]
    [echo] = [c for c in items if c["channel"] == "echo"]
    assert [(t["name"], t["state"], t["restarts"], t["last_error"]) for t in echo["tasks"]] == [
        ("mailbox", "running", 0, None)]
    ready = client.get("/readyz").json()
    assert {c["channel"]: [t["state"] for t in c["tasks"]] for c in ready["channels"]} == {
        "api": [], "webchat": [], "demo": [], "echo": ["running"]}
