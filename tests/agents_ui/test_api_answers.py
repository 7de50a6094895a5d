"""What every API answer carries (nosniff, no-store, Allow on a 405) and how its errors read: one
shape and plain words, the same on the agent API and the inbound API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import AgentLogin, api_key

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
INBOUND = "/api/v1/inbound/messages"
JSON = {"content-type": "application/json"}


def assert_api_headers(resp: object) -> None:
    headers = resp.headers  # type: ignore[attr-defined]
    assert headers.get("x-content-type-options") == "nosniff", (resp, dict(headers))
    assert headers.get("cache-control") == "no-store", (resp, dict(headers))
    assert len(headers.get_list("cache-control")) == 1


def test_api_answers_are_neither_sniffed_nor_stored(api: TestClient, admin: AgentLogin) -> None:
    key = api_key(api.app.state.hub.db)  # type: ignore[attr-defined]
    message = {"source": "crm", "external_id": "h-1", "contact": {"email": "a@example.com"}, "text": "hi"}
    answers = [
        api.get("/api/v1/conversations", headers=admin.headers),  # 200
        api.get("/api/v1/conversations"),  # 401
        api.get("/api/v1/conversations/999999", headers=admin.headers),  # 404
        api.get("/api/v1/nothing-here"),  # 404 from the router
        api.delete("/api/v1/conversations", headers=admin.headers),  # 405
        api.post("/api/v1/teams", content=b"{", headers={**admin.headers, **JSON}),  # 422
        api.post("/api/v1/teams", content=b"x" * 2_000_000, headers=admin.headers),  # 413 by the body limit
        api.post(INBOUND, json=message, headers={"X-Api-Key": key}),  # 201 through the fast lane
        api.post(INBOUND, content=iter([b"{}"]), headers={"X-Api-Key": key, **JSON}),  # 422 through the stack
        api.post(INBOUND, json=message),  # 401: a lean route's own refusal, through the fast lane
        api.get("/healthz"),
    ]
    for resp in answers:
        assert_api_headers(resp)
    assert [r.status_code for r in answers] == [200, 401, 404, 404, 405, 422, 413, 201, 422, 401, 200]
    static = api.get("/static/css/console.css")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"  # cacheable


def test_an_internal_error_carries_them_too(api: TestClient, admin: AgentLogin,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hub = api.app.state.hub  # type: ignore[attr-defined]
    monkeypatch.setattr(hub.db, "read", lambda: (_ for _ in ()).throw(RuntimeError("disk on fire")))
    resp = api.get("/api/v1/teams", headers=admin.headers)
    assert resp.status_code == 500
    assert_api_headers(resp)


def test_a_405_says_which_methods_the_path_takes(api: TestClient, admin: AgentLogin) -> None:
    resp = api.delete("/api/v1/agents", headers=admin.headers)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"  # two routes share the path: both methods
    assert resp.json() == {"error": "method_not_allowed",
                           "message": "DELETE is not allowed on /api/v1/agents; allowed: GET, POST"}
    resp = api.get(INBOUND)
    assert resp.headers["allow"] == "POST"


def test_an_unknown_route_says_what_was_asked(api: TestClient) -> None:
    resp = api.get("/api/v1/nothing-here")
    assert resp.json() == {"error": "not_found", "message": "there is nothing at GET /api/v1/nothing-here"}


@pytest.mark.parametrize(("raw", "says"), [
    (b"{not json", "invalid JSON: "),
    (b'{"name": "\xff"}', "invalid JSON: "),  # not UTF-8: FastAPI's own answer was a 400
    (b"", "the body must be a JSON object"),
    (b"[1, 2]", "the body must be a JSON object"),
    (b"null", "the body must be a JSON object"),
])
def test_bad_bodies_read_the_same_on_the_agent_api_and_the_inbound_api(
        api: TestClient, admin: AgentLogin, raw: bytes, says: str) -> None:
    key = api_key(api.app.state.hub.db)  # type: ignore[attr-defined]
    agent = api.post("/api/v1/teams", content=raw, headers={**admin.headers, **JSON})
    inbound = api.post(INBOUND, content=raw, headers={"X-Api-Key": key, **JSON})
    for resp in (agent, inbound):
        assert resp.status_code == 422
        assert resp.json()["error"] == "invalid"
        assert resp.json()["message"].startswith(says), resp.json()
        assert "decode error" not in resp.text and "Input should" not in resp.text


def test_a_form_body_is_told_to_be_json(api: TestClient, admin: AgentLogin) -> None:
    resp = api.post("/api/v1/teams", data={"name": "Support"}, headers=admin.headers)
    assert resp.status_code == 422
    assert resp.json()["message"] == "the body must be a JSON object, sent with Content-Type: application/json"


def test_field_problems_name_the_field_in_plain_words(api: TestClient, admin: AgentLogin) -> None:
    assert api.post("/api/v1/teams", json={}, headers=admin.headers).json()["message"] == "name: is required"
    resp = api.post("/api/v1/teams", json={"name": 5}, headers=admin.headers)
    assert resp.json()["message"] == "name: must be a text (a JSON string)"


def test_the_inbound_api_checks_the_key_before_describing_the_body(api: TestClient) -> None:
    for headers in ({}, {"X-Api-Key": "hubk_wrong"}):
        resp = api.post(INBOUND, json={"source": "crm"}, headers=headers)
        assert resp.status_code == 401
        assert "contact" not in resp.text and "external_id" not in resp.text
