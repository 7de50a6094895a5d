"""The fast lane answers exactly what the full FastAPI stack answers, for every kind of outcome,
on every lane route (the inbound API and both Twilio webhooks); and the app refuses to start with
middleware the lane would skip.

A request with a Content-Length takes the lane; the same request sent chunked (no Content-Length)
takes the full stack. Both must give the client the same status, headers and body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.middleware.cors import CORSMiddleware

from agents_ui.errors import API_HEADERS
from agents_ui.limits import BodySizeLimit
from channels.sms.settings import INBOUND_PATH, STATUS_PATH
from config.app import create_app
from config.settings import Settings
from hub.db import Database
from tests.channels.sms.twilio_side import PUBLIC_URL, inbound_params, sign, twilio_settings
from tests.conftest import make_settings
from tests.factories import api_key, login

PATH = "/api/v1/inbound/messages"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    """With Twilio configured (the SMS webhooks are lane routes only then; its REST API is never
    called here: nothing is sent)."""
    return make_settings(database_url, twilio=twilio_settings("http://127.0.0.1:9"))


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    """A server error comes back as the 500 a user would get instead of raising."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def answer(resp: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    return resp.status_code, sorted(resp.headers.multi_items()), resp.content


def both_raw(client: TestClient, path: str, raw: bytes, headers: dict[str, str]) -> tuple[Any, Any]:
    """(through the lane, through the full stack), each as (status, sorted headers, body bytes)."""
    lane = client.post(path, content=raw, headers=headers)
    assert lane.request.headers.get("content-length") == str(len(raw))
    stack = client.post(path, content=iter([raw]), headers=headers)
    assert "content-length" not in stack.request.headers
    for name, value in API_HEADERS.items():  # nosniff and no-store (agents_ui/api_headers.py), both ways
        assert lane.headers.get_list(name) == stack.headers.get_list(name) == [value]
    return answer(lane), answer(stack)


def both_ways(client: TestClient, body: Any, headers: dict[str, str]) -> tuple[Any, Any]:
    """The inbound API both ways, each as (status, JSON); their headers are the same."""
    raw = json.dumps(body).encode()
    (lane_status, lane_headers, lane_body), (stack_status, stack_headers, stack_body) = both_raw(
        client, PATH, raw, {**headers, "content-type": "application/json"})
    if lane_body == stack_body:
        assert lane_headers == stack_headers
    return (lane_status, json.loads(lane_body)), (stack_status, json.loads(stack_body))


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


def test_an_api_body_over_the_apps_limit_is_the_same_413(api: TestClient) -> None:
    """Not served by the lane (its declared size is over the limit): the stack refuses it either way."""
    key = {"X-Api-Key": api_key(api.app.state.hub.db), "content-type": "application/json"}  # type: ignore[attr-defined]
    raw = json.dumps(message("big") | {"text": "x" * 1_000_001}).encode()
    lane, stack = both_raw(api, PATH, raw, key)
    assert lane == stack
    assert lane[0] == 413


def signed_form(path: str, params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return urlencode(params).encode(), {**FORM, **sign(PUBLIC_URL + path, params)}


def sms_cases() -> list[tuple[str, str, int]]:
    return [(INBOUND_PATH, "good", 200), (INBOUND_PATH, "unsigned", 403), (INBOUND_PATH, "bad signature", 403),
            (INBOUND_PATH, "not a form", 415), (INBOUND_PATH, "malformed", 400),
            (INBOUND_PATH, "over the webhook limit", 413), (INBOUND_PATH, "over the app's limit", 413),
            (STATUS_PATH, "good", 200), (STATUS_PATH, "bad signature", 403), (STATUS_PATH, "malformed", 400),
            (STATUS_PATH, "over the webhook limit", 413)]


@pytest.mark.parametrize(("path", "case", "status"), sms_cases())
def test_twilio_webhooks_answer_the_same_both_ways(api: TestClient, path: str, case: str, status: int) -> None:
    """Sent twice, lane first: a good inbound message is stored once (the second is its redelivery)."""
    if path == INBOUND_PATH:
        params = inbound_params()
    else:
        params = {"AccountSid": "AC" + "0" * 32, "MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}
    raw, headers = signed_form(path, params)
    if case == "unsigned":
        headers = FORM
    elif case == "bad signature":
        headers = {**FORM, "X-Twilio-Signature": "Zm9yZ2Vk"}
    elif case == "not a form":
        raw, headers = json.dumps(params).encode(), {**headers, "content-type": "application/json"}
    elif case == "malformed":
        params.pop("MessageSid")
        params.pop("SmsSid", None)
        raw, headers = signed_form(path, params)
    elif case == "over the webhook limit":
        raw, headers = signed_form(path, {**params, "Padding": "x" * 70_000})
    elif case == "over the app's limit":
        raw, headers = signed_form(path, {**params, "Padding": "x" * 1_000_001})
    lane, stack = both_raw(api, path, raw, headers)
    assert lane == stack
    assert lane[0] == status
    if case == "good" and path == INBOUND_PATH:
        agent = login(api, api.app.state.hub.db, "admin")  # type: ignore[attr-defined]
        assert len(api.get("/api/v1/conversations", params={"channel": "sms"}, headers=agent.headers)
                   .json()["items"]) == 1


class Tagging:
    """A middleware the lane knows nothing about (adds a header)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class ScopedTagging(Tagging):
    leaves_lean_routes_alone = True


@pytest.mark.parametrize(("cls", "kwargs"), [
    (CORSMiddleware, {"allow_origins": ["https://shop.example"]}),
    (Tagging, {}),
    (BodySizeLimit, {"max_bytes": 1000}),  # smaller than the lane's: the lane would take what it refuses
])
def test_middleware_the_lane_would_skip_stops_the_app_at_startup(settings: Settings, cls: Any,
                                                                  kwargs: dict[str, Any]) -> None:
    app = create_app(settings)
    app.add_middleware(cls, **kwargs)
    with pytest.raises(RuntimeError, match=f"does not reproduce Middleware\\({cls.__name__}.*{PATH}"):
        with TestClient(app):
            pass


def test_middleware_that_leaves_lean_routes_alone_or_no_lane_starts(settings: Settings) -> None:
    app = create_app(settings)
    app.add_middleware(ScopedTagging)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
    app = create_app(settings)
    app.add_middleware(CORSMiddleware, allow_origins=["https://shop.example"])
    app.fast_lane = None  # type: ignore[attr-defined]
    with TestClient(app) as c:
        resp = c.get("/healthz", headers={"Origin": "https://shop.example"})
        assert resp.headers["access-control-allow-origin"] == "https://shop.example"
