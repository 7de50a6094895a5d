"""Errors leave as JSON with a clear message, and bad input always gets a 4xx, never a 500."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents_ui.errors import REASONS
from agents_ui.pages import I18N_DIR, LANGUAGES, Catalogues
from config.app import create_app
from config.settings import Settings
from hub.db import Database
from tests.conftest import make_settings
from tests.factories import AgentLogin, api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def conv_id(api: TestClient) -> int:
    return int(inbound(api, api_key(api.app.state.hub.db))["conversation_id"])  # type: ignore[attr-defined]


def error_problem(resp: Any, status: int, *, code: str | None = None, says: str | None = None) -> str | None:
    """What is wrong with this error answer, or None if it is the expected JSON error."""
    where = f"{resp.request.method} {resp.request.url.path}?{resp.request.url.query.decode()}"
    if resp.status_code != status:
        return f"{where}: {resp.status_code} instead of {status}: {resp.text[:300]}"
    if not resp.headers.get("content-type", "").startswith("application/json"):
        return f"{where}: not JSON: {resp.headers.get('content-type')}"
    body = resp.json()
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"]:
        return f"{where}: no message in {body}"
    if code is not None and body.get("error") != code:
        return f"{where}: error code {body.get('error')!r} instead of {code!r}"
    if says is not None and says.lower() not in body["message"].lower():
        return f"{where}: message {body['message']!r} does not mention {says!r}"
    return None


def assert_error(resp: Any, status: int, *, code: str | None = None, says: str | None = None) -> None:
    problem = error_problem(resp, status, code=code, says=says)
    assert problem is None, problem


def test_malformed_json_and_non_objects_are_a_422(api: TestClient, admin: AgentLogin, conv_id: int) -> None:
    problems = []
    for path in ["/api/v1/auth/login", "/api/v1/conversations/{c}/messages", "/api/v1/conversations/{c}/notes",
                 "/api/v1/conversations/{c}/status", "/api/v1/conversations/{c}/assign", "/api/v1/teams",
                 "/api/v1/agents", "/api/v1/api-keys", "/api/v1/agents/me/presence"]:
        for raw in (b"{not json", b"", b"[1, 2]", b'"text"', b"null"):
            resp = api.post(path.format(c=conv_id), content=raw,
                            headers={**admin.headers, "Content-Type": "application/json"})
            problems.append(error_problem(resp, 422, code="invalid"))
    assert [p for p in problems if p] == []


WRONG_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("/api/v1/conversations/{c}/messages", {"text": 123}, "text"),
    ("/api/v1/conversations/{c}/messages", {"text": ""}, "text"),
    ("/api/v1/conversations/{c}/messages", {"text": "   "}, "reply needs text"),
    ("/api/v1/conversations/{c}/messages", {"text": "hi", "html": ["x"]}, "html"),
    ("/api/v1/conversations/{c}/notes", {"text": "\n\t"}, "note needs text"),
    ("/api/v1/conversations/{c}/notes", {"text": "hi", "mentions": ["bob"]}, "mentions"),
    ("/api/v1/conversations/{c}/notes", {"text": "hi", "mentions": 5}, "mentions"),
    ("/api/v1/conversations/{c}/notes", {"text": "x" * 50_001}, "text"),
    ("/api/v1/conversations/{c}/status", {"status": "done"}, "status"),
    ("/api/v1/conversations/{c}/status", {"status": "snoozed"}, "snoozed_until"),
    ("/api/v1/conversations/{c}/status", {"status": "snoozed", "snoozed_until": "soon"}, "snoozed_until"),
    ("/api/v1/conversations/{c}/assign", {"assignee_id": "bob"}, "assignee_id"),
    ("/api/v1/conversations/{c}/assign", {"assignee_id": 1.5}, "assignee_id"),
    ("/api/v1/agents", {"email": "x@y.z", "name": "X", "password": "short"}, "password"),
    ("/api/v1/agents", {"email": "not-an-email", "name": "X", "password": "long enough"}, "email"),
    ("/api/v1/agents", {"email": "x@y.z", "name": "X", "password": "long enough", "role": "boss"}, "role"),
    ("/api/v1/agents", {"email": "x@y.z", "name": "X", "password": "long enough", "capacities": {"sms": "a"}},
     "capacities"),
    ("/api/v1/agents", {"email": "x@y.z", "name": "   ", "password": "long enough"}, "name"),
    ("/api/v1/agents/me/presence", {"presence": "busy"}, "presence"),
    ("/api/v1/teams", {"name": ""}, "name"),
    ("/api/v1/teams", {"name": "   "}, "needs a name"),
    ("/api/v1/teams", {}, "name"),
    ("/api/v1/api-keys", {"name": 7}, "name"),
]


def test_wrong_types_and_values_are_a_422_naming_the_problem(api: TestClient, admin: AgentLogin,
                                                             conv_id: int) -> None:
    problems = [error_problem(api.post(url.format(c=conv_id), json=body, headers=admin.headers), 422,
                              code="invalid", says=says) for url, body, says in WRONG_BODIES]
    assert [p for p in problems if p] == []
    conv = api.get(f"/api/v1/conversations/{conv_id}", headers=admin.headers).json()
    assert [m["direction"] for m in conv["messages"]] == ["in"]
    assert conv["conversation"]["status"] == "open"


def test_unknown_ids_and_routes_are_a_404(api: TestClient, admin: AgentLogin) -> None:
    team = create_team(api.app.state.hub.db)  # type: ignore[attr-defined]
    cases: list[tuple[str, str, dict[str, Any] | None, str | None]] = [
        ("GET", "/api/v1/conversations/987654", None, "conversation 987654 does not exist"),
        ("POST", "/api/v1/conversations/987654/messages", {"text": "hi"}, "conversation 987654"),
        ("POST", "/api/v1/conversations/987654/notes", {"text": "hi"}, "conversation 987654"),
        ("POST", "/api/v1/conversations/987654/status", {"status": "resolved"}, "conversation 987654"),
        ("POST", "/api/v1/conversations/987654/assign", {"assignee_id": None}, "conversation 987654"),
        ("GET", "/api/v1/contacts/987654", None, "contact 987654 does not exist"),
        ("GET", "/api/v1/contacts/987654/timeline", None, "contact 987654"),
        ("PATCH", "/api/v1/agents/987654", {"name": "x"}, "agent 987654 does not exist"),
        ("POST", "/api/v1/teams/987654/members", {"agent_id": admin.id}, "team 987654 does not exist"),
        ("DELETE", f"/api/v1/teams/987654/members/{admin.id}", None, "team 987654"),
        ("POST", f"/api/v1/teams/{team}/members", {"agent_id": 987654}, "agent 987654"),
        ("DELETE", f"/api/v1/teams/{team}/members/987654", None, "agent 987654"),
        ("DELETE", "/api/v1/api-keys/987654", None, "api key 987654 does not exist"),
        ("GET", "/api/v1/nothing-here", None, None),
    ]
    problems = [error_problem(api.request(method, url, json=body, headers=admin.headers), 404, code="not_found",
                              says=says) for method, url, body, says in cases]
    assert [p for p in problems if p] == []


def test_a_wrong_method_is_a_405(api: TestClient, admin: AgentLogin) -> None:
    assert_error(api.delete("/api/v1/conversations", headers=admin.headers), 405, code="method_not_allowed")
    assert_error(api.put("/api/v1/auth/login", json={}), 405)


def test_bad_path_and_query_values_are_a_422(api: TestClient, admin: AgentLogin) -> None:
    urls = [
        "/api/v1/conversations/abc", "/api/v1/conversations/1.5", "/api/v1/contacts/abc/timeline",
        "/api/v1/conversations?limit=0", "/api/v1/conversations?limit=501", "/api/v1/conversations?limit=ten",
        "/api/v1/conversations?status=closed", "/api/v1/conversations?assignee=bob",
        "/api/v1/conversations?assignee=-3", "/api/v1/conversations?before=x", "/api/v1/conversations?team_id=x",
        "/api/v1/contacts?limit=0", "/api/v1/contacts/1/timeline?limit=500", "/api/v1/contacts?q=" + "x" * 201,
    ]
    problems = [error_problem(api.get(url, headers=admin.headers), 422, code="invalid") for url in urls]
    assert [p for p in problems if p] == []


def test_ids_beyond_what_the_database_stores_are_a_4xx_not_a_500(api: TestClient, admin: AgentLogin,
                                                                 conv_id: int) -> None:
    """2**31 is past PostgreSQL's integer ids, 2**63 past SQLite's: each must be bad input, not a crash."""
    problems = []
    for huge in (2**31, 2**63, 10**20):
        for method, url, body in [
            ("GET", f"/api/v1/conversations/{huge}", None),
            ("GET", f"/api/v1/conversations?before={huge}", None),
            ("GET", f"/api/v1/conversations?team_id={huge}", None),
            ("GET", f"/api/v1/conversations?contact_id={huge}", None),
            ("GET", f"/api/v1/conversations?assignee={huge}", None),
            ("GET", f"/api/v1/contacts/{huge}", None),
            ("GET", f"/api/v1/contacts/{huge}/timeline", None),
            ("POST", f"/api/v1/conversations/{huge}/notes", {"text": "hi"}),
            ("POST", f"/api/v1/conversations/{conv_id}/assign", {"assignee_id": huge}),
            ("POST", f"/api/v1/conversations/{conv_id}/assign", {"assignee_id": admin.id, "team_id": huge}),
            ("POST", f"/api/v1/conversations/{conv_id}/notes", {"text": "hi", "mentions": [huge]}),
            ("PATCH", f"/api/v1/agents/{huge}", {"name": "x"}),
            ("POST", "/api/v1/teams/1/members", {"agent_id": huge}),
            ("DELETE", f"/api/v1/teams/{huge}/members/{huge}", None),
            ("DELETE", f"/api/v1/api-keys/{huge}", None),
        ]:
            resp = api.request(method, url, json=body, headers=admin.headers)
            if resp.status_code >= 500:
                problems.append(f"{method} {url}: {resp.status_code} {resp.text}")
            elif resp.status_code >= 400:  # 200 is fine too: SQLite has room for 2**31
                problems.append(error_problem(resp, resp.status_code))
    assert [p for p in problems if p] == []
    conv = api.get(f"/api/v1/conversations/{conv_id}", headers=admin.headers).json()
    assert conv["conversation"]["assignee_id"] is None
    assert [m["direction"] for m in conv["messages"]] == ["in"]


def test_nul_characters_are_a_4xx_not_a_500(api: TestClient, admin: AgentLogin, conv_id: int) -> None:
    """PostgreSQL cannot store NUL in text; the user must hear that their input is wrong, not "internal"."""
    db: Database = api.app.state.hub.db  # type: ignore[attr-defined]
    key = api_key(db)
    problems = []
    for method, url, body in [
        ("POST", "/api/v1/auth/login", {"email": "a\x00@b.c", "password": "whatever1"}),
        ("POST", f"/api/v1/conversations/{conv_id}/messages", {"text": "hi\x00there"}),
        ("POST", f"/api/v1/conversations/{conv_id}/notes", {"text": "hi\x00there"}),
        ("POST", "/api/v1/teams", {"name": "a\x00b"}),
        ("POST", "/api/v1/api-keys", {"name": "a\x00b"}),
        ("GET", "/api/v1/contacts?q=%00", None),
        ("GET", "/api/v1/conversations?channel=%00", None),
        ("POST", "/api/v1/inbound/messages", {"source": "crm", "external_id": "nul\x00", "text": "x",
                                              "contact": {"email": "nul@example.com"}}),
    ]:
        headers = {"X-Api-Key": key} if "inbound" in url else admin.headers
        resp = api.request(method, url, json=body, headers=headers)
        if resp.status_code >= 500:
            problems.append(f"{method} {url}: {resp.status_code} {resp.text}")
        elif resp.status_code >= 400:
            problems.append(error_problem(resp, resp.status_code))
    assert [p for p in problems if p] == []


def test_an_oversized_body_is_a_413_with_a_message(api: TestClient, admin: AgentLogin, conv_id: int) -> None:
    resp = api.post(f"/api/v1/conversations/{conv_id}/notes", json={"text": "x" * 1_100_000}, headers=admin.headers)
    assert_error(resp, 413, code="too_large", says="bytes")
    messages = api.get(f"/api/v1/conversations/{conv_id}", headers=admin.headers).json()["messages"]
    assert [m["direction"] for m in messages] == ["in"]


def test_an_oversized_chunked_body_is_a_413_too(api: TestClient, admin: AgentLogin, conv_id: int) -> None:
    resp = api.post(f"/api/v1/conversations/{conv_id}/notes", content=iter([b'{"text": "', b"x" * 1_100_000, b'"}']),
                    headers={**admin.headers, "Content-Type": "application/json"})
    assert_error(resp, 413, code="too_large", says="bytes")


def test_healthz_answers_without_the_database_and_readyz_reports_it_down() -> None:
    """The process is alive even when its database is not; readiness says which one is the problem."""
    app = create_app(make_settings("postgresql://hub@127.0.0.1:1/unreachable"))
    api = TestClient(app, raise_server_exceptions=False)  # no lifespan: the hub could not start anyway
    resp = api.get("/healthz")
    assert (resp.status_code, resp.json()) == (200, {"status": "ok"})
    resp = api.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["status"] == "unavailable"
    assert "database" in resp.json()["message"]


def test_readyz_names_the_database_when_it_answers(api: TestClient, settings: Settings) -> None:
    resp = api.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "database": "sqlite" if settings.database_url.startswith("sqlite")
                           else "postgresql", "channels": [{"channel": "api", "tasks": []},
                                                           {"channel": "webchat", "tasks": []},
                                                           {"channel": "demo", "tasks": []}]}


def _why(resp: Any, status: int) -> tuple[str, str, dict[str, Any]]:
    """The code, reason and params of an error answer (its English message is kept for logs)."""
    assert_error(resp, status)
    body = resp.json()
    return body["error"], body.get("reason", body["error"]), body.get("params", {})


def test_the_errors_an_agent_meets_carry_a_reason_and_its_params(api: TestClient, admin: AgentLogin,
                                                                conv_id: int) -> None:
    db = api.app.state.hub.db  # type: ignore[attr-defined]
    reply = f"/api/v1/conversations/{conv_id}/messages"
    sent = api.post(reply, json={"text": "hi", "cc": ["ok@example.com", "bob@"]}, headers=admin.headers)
    assert _why(sent, 422) == ("invalid", "email_invalid", {"field": "cc", "address": "bob@"})
    assert "not a valid email address" in sent.json()["message"]  # the English words stay, for logs and scripts
    for empty in ("", " \n"):  # refused by the schema, and by the hub
        assert _why(api.post(reply, json={"text": empty}, headers=admin.headers), 422) == (
            "invalid", "empty", {"field": "text"})
    assert _why(api.post(reply, json={"text": "x" * 50_001}, headers=admin.headers), 422) == (
        "invalid", "too_long", {"field": "text", "max": 50_000})
    assert _why(api.post(reply, json={"text": "hi", "attachments": list(range(1, 22))}, headers=admin.headers),
                422) == ("invalid", "too_many", {"field": "attachments", "max": 20})
    assert _why(api.post(reply, json={}, headers=admin.headers), 422) == ("invalid", "required", {"field": "text"})
    assert _why(api.post(reply, content=b"{", headers={**admin.headers, "Content-Type": "application/json"}),
                422)[1] == "json_invalid"

    assert _why(api.get("/api/v1/conversations/999999", headers=admin.headers), 404) == (
        "not_found", "conversation_not_found", {})
    owner, other = login(api, db), login(api, db)
    assigned = api.post(f"/api/v1/conversations/{conv_id}/assign", json={"assignee_id": owner.id},
                        headers=admin.headers)
    assert assigned.status_code == 200, assigned.text
    assert _why(api.post(reply, json={"text": "mine now"}, headers=other.headers), 403) == (
        "forbidden", "conversation_not_yours", {})
    assert _why(api.post(f"/api/v1/conversations/{conv_id}/accept", headers=owner.headers), 409) == (
        "conflict", "offer_gone", {})

    presence = [api.post("/api/v1/agents/me/presence", json={"presence": p}, headers=other.headers)
                for p in ["away", "online"] * 20]
    limited = next(r for r in presence if r.status_code == 429)
    code, why, params = _why(limited, 429)
    assert (code, why) == ("too_many_requests", "too_many_requests")
    assert params["retry_after"] == int(limited.headers["Retry-After"]) >= 1


def test_a_reason_the_hub_answers_has_a_sentence_in_every_console_language() -> None:
    catalogues = {lang: Catalogues(I18N_DIR).get(lang)[0] for lang in LANGUAGES}
    for lang, catalogue in catalogues.items():
        missing = [r for r in REASONS if not any(k == f"error.{r}" or k.startswith(f"error.{r}.") for k in catalogue)]
        assert not missing, f"{lang}: no sentence for {missing}"


def test_a_delivery_failures_reason_has_a_sentence_in_every_console_language() -> None:
    """Channels give their send errors a reason (hub.ports.SendError); the thread says it."""
    raised = {"gave_up"}  # hub/delivery/actions.py, around the last attempt's reason
    for path in (Path(__file__).parents[2] / "channels").rglob("*.py"):
        raised |= set(re.findall(r'\breason="([a-z_]+)"', path.read_text()))
    assert {"recipients_refused", "callback_refused"} <= raised, "the pattern is stale"
    for lang in LANGUAGES:
        catalogue = Catalogues(I18N_DIR).get(lang)[0]
        assert not [r for r in sorted(raised) if f"delivery.why.{r}" not in catalogue], lang

