"""The fast lane answers exactly what the full FastAPI stack answers, for every kind of outcome.

A request with a Content-Length takes the lane; the same request sent chunked (no Content-Length)
takes the full stack. Both must give the client the same status and the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents_ui.errors import API_HEADERS
from config.app import create_app
from config.settings import Settings
from hub.db import Database
from tests.factories import api_key, login

PATH = "/api/v1/inbound/messages"


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    """A server error comes back as the 500 a user would get instead of raising."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def both_ways(client: TestClient, body: Any, headers: dict[str, str]) -> tuple[Any, Any]:
    """(through the lane, through the full stack), each as (status, JSON)."""
    raw = json.dumps(body).encode()
    lane = client.post(PATH, content=raw, headers={**headers, "content-type": "application/json"})
    assert lane.request.headers.get("content-length") == str(len(raw))
    stack = client.post(PATH, content=iter([raw]), headers={**headers, "content-type": "application/json"})
    assert "content-length" not in stack.request.headers
    for name, value in API_HEADERS.items():  # nosniff and no-store (agents_ui/api_headers.py), both ways
        assert lane.headers.get_list(name) == stack.headers.get_list(name) == [value]
    return (lane.status_code, lane.json()), (stack.status_code, stack.json())


def message(external_id: str, **contact: str) -> dict[str, Any]:
    return {"source": "crm", "external_id": external_id, "contact": contact or {"email": "a@example.com"},
            "text": "hello"}


def test_the_lane_serves_only_posts_with_a_declared_size_within_the_limit(api: TestClient) -> None:
    lane = api.app.fast_lane  # type: ignore[attr-defined]

    def scope(method: str = "POST", path: str = PATH, length: bytes | None = b"10") -> dict[str, Any]:
        headers = [(b"content-type", b"application/json")]
        if length is not None:
            headers.append((b"content-length", length))
        return {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers}

    assert lane.handler_for(scope()) is not None
    assert lane.handler_for(scope(path="/channels/sms/twilio/inbound")) is not None
    assert lane.handler_for(scope(length=None)) is None  # chunked: the stack's body limit reads it
    assert lane.handler_for(scope(length=str(10**9).encode())) is None  # oversized: the stack's 413
    assert lane.handler_for(scope(method="GET")) is None
    assert lane.handler_for(scope(path="/api/v1/conversations")) is None


def test_stored_and_duplicate_answers_match(api: TestClient) -> None:
    db: Database = api.app.state.hub.db  # type: ignore[attr-defined]
    key = {"X-Api-Key": api_key(db)}
    (lane_status, lane_body), (stack_status, stack_body) = both_ways(api, message("m-1"), key)
    assert (lane_status, stack_status) == (201, 200)  # the second is the redelivery of the first
    assert stack_body == {**lane_body, "duplicate": True}
    (lane_status, lane_again), (stack_status, stack_again) = both_ways(api, message("m-1"), key)
    assert lane_status == stack_status == 200
    assert lane_again == stack_again == stack_body
    agent = login(api, db, "admin")
    convs = api.get("/api/v1/conversations", headers=agent.headers).json()["items"]
    assert len(convs) == 1


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (message("x"), {}, 401, "unauthorized"),
    (message("x"), {"X-Api-Key": "hubk_wrong"}, 401, "unauthorized"),
    ({"source": "crm"}, {}, 401, "unauthorized"),  # the key is checked before the body
    ({"source": "crm", "external_id": "x", "contact": {}, "text": "hi"}, None, 422, "invalid"),
    ({"source": "crm", "external_id": "x"}, None, 422, "invalid"),
    ("not an object", None, 422, "invalid"),
    (message("x", phone="not a phone"), None, 422, "invalid"),
    (message("x" * 401), None, 422, "invalid"),
])
def test_refusals_match(api: TestClient, body: Any, headers: dict[str, str] | None, status: int,
                        code: str) -> None:
    if headers is None:
        headers = {"X-Api-Key": api_key(api.app.state.hub.db)}  # type: ignore[attr-defined]
    lane, stack = both_ways(api, body, headers)
    assert lane == stack
    assert lane[0] == status
    assert lane[1]["error"] == code and lane[1]["message"]


def test_an_unexpected_error_is_the_same_json_500(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = api.app.state.hub  # type: ignore[attr-defined]
    key = {"X-Api-Key": api_key(hub.db)}

    async def broken(_: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(hub, "ingest_async", broken)
    lane, stack = both_ways(api, message("boom"), key)
    assert lane == stack
    assert lane[0] == 500 and lane[1]["error"] == "internal"
    assert "disk on fire" not in json.dumps(lane[1])


def test_without_the_lane_the_answers_are_the_same(settings: Settings) -> None:
    """With OpenTelemetry on, every request takes the traced stack; nothing else changes."""
    with TestClient(create_app(settings.model_copy(update={"opentelemetry": True}))) as c:
        assert c.app.fast_lane is None  # type: ignore[attr-defined]
        key = {"X-Api-Key": api_key(c.app.state.hub.db)}  # type: ignore[attr-defined]
        resp = c.post(PATH, json=message("otel"), headers=key)
        assert resp.status_code == 201 and resp.json()["duplicate"] is False
