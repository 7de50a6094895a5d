"""Another site cannot use an agent's session cookie: cross-site writes and sockets are refused,
the hub's own pages and bearer tokens are not."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from agents_ui.origin import OriginCheck, origin_of
from config.app import create_app
from config.settings import Settings
from hub.db import Database
from tests.factories import PASSWORD, api_key, create_agent

EVIL = "https://evil.example"


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"allowed_origins": ["https://crm.example.com"]}))) as c:
        yield c


def browser(client: TestClient, role: str = "agent") -> str:
    """Logs in as a browser does: the client keeps the `hub_session` cookie. Returns the token."""
    db: Database = client.app.state.hub.db  # type: ignore[attr-defined]
    _, email = create_agent(db, role)
    resp = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    assert client.cookies.get("hub_session")
    return str(resp.json()["token"])


def signed_in(client: TestClient) -> bool:
    return client.get("/api/v1/agents/me").status_code == 200


def test_a_cross_site_cookie_post_is_refused_and_changes_nothing(app_client: TestClient) -> None:
    browser(app_client)
    resp = app_client.post("/api/v1/auth/logout", headers={"Origin": EVIL})
    assert resp.status_code == 403
    assert resp.json()["error"] == "forbidden"
    assert "cross-site" in resp.json()["message"] and EVIL in resp.json()["message"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    resp = app_client.post("/api/v1/agents/me/presence", json={"presence": "away"}, headers={"Origin": "null"})
    assert resp.status_code == 403
    assert signed_in(app_client)
    assert app_client.get("/api/v1/agents/me").json()["presence"] != "away"


def test_without_origin_a_cross_site_fetch_is_refused_by_sec_fetch_site(app_client: TestClient) -> None:
    browser(app_client)
    resp = app_client.post("/api/v1/auth/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 403
    assert "Sec-Fetch-Site" in resp.json()["message"]
    assert signed_in(app_client)
    assert app_client.post("/api/v1/auth/logout", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert not signed_in(app_client)


@pytest.mark.parametrize("origin", ["http://testserver", "HTTP://TestServer:80", "https://crm.example.com"])
def test_the_hubs_own_pages_and_allowed_origins_may_write(app_client: TestClient, origin: str) -> None:
    browser(app_client)
    resp = app_client.post("/api/v1/agents/me/presence", json={"presence": "away"}, headers={"Origin": origin})
    assert resp.status_code == 200, resp.text
    assert app_client.post("/api/v1/auth/logout", headers={"Origin": origin}).status_code == 200


def test_a_bearer_token_is_not_subject_to_origins(app_client: TestClient) -> None:
    token = browser(app_client)
    app_client.cookies.clear()
    resp = app_client.post("/api/v1/agents/me/presence", json={"presence": "away"},
                           headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    with app_client.websocket_connect("/ws/agent", headers={"Origin": EVIL, "Authorization": f"Bearer {token}"}) as ws:
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert ws.receive_json()["type"] == "ready"


def test_safe_reads_and_cookie_less_requests_pass(app_client: TestClient) -> None:
    browser(app_client)
    assert app_client.get("/api/v1/agents/me", headers={"Origin": EVIL}).status_code == 200
    app_client.cookies.clear()
    resp = app_client.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "wrong"},
                           headers={"Origin": EVIL})
    assert resp.status_code == 401  # not refused for its origin: it carries no session to misuse


def test_a_cross_site_page_cannot_open_the_agent_socket_with_the_cookie(app_client: TestClient) -> None:
    browser(app_client)
    with pytest.raises(WebSocketDisconnect) as refused:
        with app_client.websocket_connect("/ws/agent", headers={"Origin": EVIL}) as ws:
            ws.send_json({"type": "resume", "last_event_id": 0})
            ws.receive_json()
    assert refused.value.code == 1008
    assert "cross-site" in refused.value.reason
    with app_client.websocket_connect("/ws/agent", headers={"Origin": "http://testserver"}) as ws:
        ws.send_json({"type": "resume", "last_event_id": 0})
        assert ws.receive_json()["type"] == "ready"


@pytest.mark.parametrize(("url", "origin"), [
    ("https://support.example.com/helpdesk/", "https://support.example.com"),
    ("https://Support.Example.com:443", "https://support.example.com"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://[::1]:8080/x", "http://[::1]:8080"),
    ("null", None),
    ("https://x.example:99999", None),
])
def test_origins_compare_as_browsers_write_them(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_the_check_is_one_header_scan() -> None:
    check = OriginCheck(lambda *a: None, "https://hub.example")  # type: ignore[arg-type, return-value]
    cookie = (b"cookie", b"hub_lang=es; hub_session=abc")
    assert check.refusal([cookie, (b"origin", b"https://hub.example")]) is None
    assert check.refusal([cookie, (b"origin", b"https://hub.example.evil.com")]) is not None
    assert check.refusal([(b"cookie", b"xhub_session=abc"), (b"origin", EVIL.encode())]) is None
    assert check.refusal([cookie, (b"origin", EVIL.encode()), (b"authorization", b"Bearer t")]) is None


def test_routes_that_never_read_the_cookie_answer_the_same_with_a_cross_site_one(app_client: TestClient) -> None:
    """The inbound API takes its key, not the cookie: a stray cross-site cookie changes nothing, and
    the fast lane (a declared Content-Length) and the full stack (chunked) answer alike."""
    browser(app_client)
    key = api_key(app_client.app.state.hub.db)  # type: ignore[attr-defined]
    raw = json.dumps({"source": "crm", "external_id": "o-1", "contact": {"email": "a@example.com"},
                      "text": "hi"}).encode()
    headers = {"X-Api-Key": key, "Origin": EVIL, "content-type": "application/json"}
    lane = app_client.post("/api/v1/inbound/messages", content=raw, headers=headers)
    stack = app_client.post("/api/v1/inbound/messages", content=iter([raw]), headers=headers)
    assert (lane.status_code, stack.status_code) == (201, 200), (lane.text, stack.text)


def test_the_console_opened_at_another_address_of_the_hub_is_its_own_page(settings: Settings) -> None:
    """`make run` says http://127.0.0.1:8000; an agent who opens http://localhost:8000, or a hub served on
    another port, is on the hub's own page all the same (its Origin is the request's Host)."""
    elsewhere = settings.model_copy(update={"public_url": "http://hub.example.com:8000"})
    with TestClient(create_app(elsewhere)) as client:  # its requests carry Host: testserver
        browser(client)
        own = {"Origin": "http://testserver"}
        assert client.post("/api/v1/agents/me/presence", json={"presence": "away"}, headers=own).status_code == 200
        with client.websocket_connect("/ws/agent", headers=own) as ws:
            ws.send_json({"type": "resume", "last_event_id": 0})
            assert ws.receive_json()["type"] == "ready"
        refused = client.post("/api/v1/agents/me/presence", json={"presence": "online"},
                              headers={"Origin": "http://testserver.evil.example"})
        assert refused.status_code == 403
        assert client.get("/api/v1/agents/me").json()["presence"] == "away"
