"""A NUL character in a query string (or a path) is refused alike on SQLite and PostgreSQL, on
every route, before anything reads it: PostgreSQL refused it as a DataError (422) while SQLite
searched for it (200)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.websockets import WebSocketDisconnect

from hub.conversations.models import Message
from hub.db import Database
from tests.factories import api_key, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def assert_refused(resp: httpx.Response, where: str = "query string") -> None:
    assert resp.status_code == 422, (resp.request.url, resp.text)
    body = resp.json()
    assert body["error"] == "invalid"
    assert body["message"].startswith(f"the {where} contains a NUL character")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_a_nul_in_a_query_string_is_refused_on_every_route(client: TestClient, db: Database) -> None:
    key = api_key(db)
    conv = inbound(client, key, email="nul@example.com", name="Nul Tester")
    contact_id, conv_id = conv["contact_id"], conv["conversation_id"]
    supervisor = login(client, db, "supervisor")
    for query in ["/api/v1/contacts?q=Nu%00l", "/api/v1/contacts?q=%00", "/api/v1/contacts?q=%00&limit=5",
                  "/api/v1/conversations?channel=%00", "/api/v1/conversations?assignee=me%00",
                  "/api/v1/conversations?view=mine&channel=api%00",
                  f"/api/v1/contacts/{contact_id}/timeline?before=%00",
                  f"/api/v1/conversations/{conv_id}?unknown=%00",
                  f"/api/v1/canned?conversation_id={conv_id}&x=%00",
                  "/api/v1/agents/me?x=%00", "/healthz?x=%00"]:
        assert_refused(client.get(query, headers=supervisor.headers))
    # Writes too, and the inbound API whether the fast lane serves it (a Content-Length) or the stack.
    assert_refused(client.post(f"/api/v1/conversations/{conv_id}/notes?x=%00", json={"text": "hi"},
                               headers=supervisor.headers))
    body = {"source": "crm", "external_id": "nul-1", "contact": {"email": "nul@example.com"}, "text": "hi"}
    assert_refused(client.post("/api/v1/inbound/messages?x=%00", json=body, headers={"X-Api-Key": key}))
    assert_refused(client.post("/api/v1/inbound/messages?x=%00", headers={"X-Api-Key": key,
                                                                            "Content-Type": "application/json"},
                               content=iter([b'{"source": "crm", "external_id": "nul-2", ',
                                             b'"contact": {"email": "nul@example.com"}, "text": "hi"}'])))
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 1
    # The same queries without the NUL are answered as usual.
    assert client.get("/api/v1/contacts?q=Nul", headers=supervisor.headers).json()["items"][0]["id"] == contact_id
    assert client.get("/api/v1/conversations?channel=api", headers=supervisor.headers).status_code == 200


def test_a_nul_in_a_path_or_a_socket_query_is_refused(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    for path in ["/api/v1/contacts/%00", "/static/js/a%00.js", "/api/v1/teams/1%00/settings"]:
        assert_refused(client.get(path, headers=agent.headers), "path")
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect("/ws/agent?x=%00", headers=agent.headers):
        pass
    assert closed.value.code == 1008
    assert "NUL" in closed.value.reason
