"""Logging in and out: a session cookie for the browser, the same token as a bearer for tools."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from config.app import create_app
from hub.agents import actions as agent_actions
from hub.db import Database
from tests.conftest import make_settings
from tests.factories import PASSWORD, api_key, create_agent, inbound, login


def test_login_sets_an_httponly_session_cookie_and_returns_a_bearer_token(client: TestClient, db: Database) -> None:
    agent_id, email = create_agent(db, "agent")
    resp = client.post("/api/v1/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["agent"]["id"] == agent_id
    assert body["agent"]["email"] == email
    assert "password_hash" not in body["agent"]
    set_cookie = resp.headers["set-cookie"]
    assert set_cookie.startswith(f"hub_session={body['token']}")
    assert "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower()

    # The browser: the cookie alone authenticates.
    me = client.get("/api/v1/agents/me")
    assert me.status_code == 200
    assert me.json()["id"] == agent_id
    # A tool: the bearer alone authenticates.
    client.cookies.clear()
    assert client.get("/api/v1/agents/me").status_code == 401
    me = client.get("/api/v1/agents/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email


def test_wrong_password_and_unknown_email_get_the_same_401(client: TestClient, db: Database) -> None:
    _, email = create_agent(db, "agent")
    wrong = client.post("/api/v1/auth/login", json={"email": email, "password": "not the password"})
    unknown = client.post("/api/v1/auth/login", json={"email": "nobody@test.example", "password": PASSWORD})
    for resp in (wrong, unknown):
        assert resp.status_code == 401
        assert resp.json() == {"error": "unauthorized", "message": "wrong email or password"}
        assert "set-cookie" not in resp.headers
        assert resp.headers["www-authenticate"] == "Bearer"


def test_requests_without_or_with_a_bad_token_get_401_with_a_message(client: TestClient, db: Database) -> None:
    for headers in ({}, {"Authorization": "Bearer hub_not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"},
                    {"Authorization": "Bearer "}):
        resp = client.get("/api/v1/conversations", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json()["error"] == "unauthorized"
        assert "log in" in resp.json()["message"]
    resp = client.get("/api/v1/conversations", cookies={"hub_session": "forged"})
    assert resp.status_code == 401


def test_logout_revokes_the_token_and_clears_the_cookie(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    other = login(client, db, "agent")
    resp = client.post("/api/v1/auth/logout", headers=agent.headers)
    assert resp.status_code == 200
    assert resp.json() == {"ok": True}
    assert 'hub_session=""' in resp.headers["set-cookie"] or "Max-Age=0" in resp.headers["set-cookie"]
    assert client.get("/api/v1/agents/me", headers=agent.headers).status_code == 401
    # Only that session ended.
    assert client.get("/api/v1/agents/me", headers=other.headers).status_code == 200


def test_logout_through_the_cookie(client: TestClient, db: Database) -> None:
    _, email = create_agent(db, "agent")
    token = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["token"]
    assert client.post("/api/v1/auth/logout").status_code == 200
    client.cookies.clear()
    assert client.get("/api/v1/agents/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_each_login_is_its_own_session(client: TestClient, db: Database) -> None:
    _, email = create_agent(db, "agent")
    tokens = [client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["token"]
              for _ in range(2)]
    client.cookies.clear()
    assert tokens[0] != tokens[1]
    client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {tokens[0]}"})
    assert client.get("/api/v1/agents/me", headers={"Authorization": f"Bearer {tokens[1]}"}).status_code == 200


def test_an_expired_session_is_refused(client: TestClient, db: Database) -> None:
    agent_id, _ = create_agent(db, "agent")
    with db.write() as s:
        token = agent_actions.do_create_token(s, agent_actions.get_agent(s, agent_id), timedelta(seconds=-1))
    resp = client.get("/api/v1/agents/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


def test_a_deactivated_agent_can_neither_log_in_nor_use_an_old_token(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    admin = login(client, db, "admin")
    assert client.patch(f"/api/v1/agents/{agent.id}", json={"active": False}, headers=admin.headers).status_code == 200
    assert client.get("/api/v1/agents/me", headers=agent.headers).status_code == 401
    resp = client.post("/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert resp.status_code == 401


def test_a_deactivated_agents_sessions_stay_ended_after_a_reactivation(client: TestClient, db: Database) -> None:
    """Before: deactivation only hid the tokens, and a reactivation brought every old session back."""
    agent = login(client, db, "agent")
    admin = login(client, db, "admin")
    for active in (False, True):
        resp = client.patch(f"/api/v1/agents/{agent.id}", json={"active": active}, headers=admin.headers)
        assert resp.status_code == 200
    assert client.get("/api/v1/agents/me", headers=agent.headers).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD}).status_code == 200
    assert client.get("/api/v1/agents/me", headers=admin.headers).status_code == 200  # others' sessions untouched


def test_the_session_cookie_is_secure_when_the_public_url_is_https(database_url: str) -> None:
    """Before: Secure only when cookie_secure was set by hand, so an https hub sent its session
    cookie over plain http too. cookie_secure still overrides either way."""
    for public_url, override, secure in (("https://support.example.com", None, True),
                                         ("http://127.0.0.1:8000", None, False),
                                         ("https://support.example.com", False, False)):
        settings = make_settings(database_url, public_url=public_url, cookie_secure=override)
        with TestClient(create_app(settings), base_url=public_url) as c:
            _, email = create_agent(c.app.state.hub.db, "agent")  # type: ignore[attr-defined]
            resp = c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            assert ("; secure" in resp.headers["set-cookie"].lower()) is secure, (public_url, override)
            out = c.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {resp.json()['token']}"})
            assert ("; secure" in out.headers["set-cookie"].lower()) is secure, (public_url, override)


def test_login_is_throttled_after_five_failures_even_with_the_right_password(client: TestClient, db: Database) -> None:
    _, email = create_agent(db, "agent")
    for _ in range(5):
        resp = client.post("/api/v1/auth/login", json={"email": email, "password": "guess-guess"})
        assert resp.status_code == 401
    resp = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 429
    assert resp.json()["error"] == "too_many_requests"
    assert "too many failed logins" in resp.json()["message"]
    # The same wait in words and in Retry-After (whole seconds, rounded up).
    assert f"try again in {resp.headers['retry-after']} seconds" in resp.json()["message"]
    assert "set-cookie" not in resp.headers


def test_throttling_counts_failures_across_accounts_from_one_address(client: TestClient, db: Database) -> None:
    """Guessing a different account each time from the same address is throttled too, but an address
    gets ten times an account's room (5 x 10), so colleagues behind one office address are not
    locked out by a few typos."""
    _, email = create_agent(db, "agent")
    for i in range(5):
        client.post("/api/v1/auth/login", json={"email": f"nobody{i}@test.example", "password": "guess-guess"})
    assert client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    for i in range(5, 50):
        client.post("/api/v1/auth/login", json={"email": f"nobody{i}@test.example", "password": "guess-guess"})
    resp = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 429
    assert "try again in" in resp.json()["message"]


def test_a_success_clears_the_accounts_failures(client: TestClient, db: Database) -> None:
    """Four typos, then the right password: the account's slate is clean, the next typo is a plain 401."""
    _, email = create_agent(db, "agent")
    for _ in range(4):
        assert client.post("/api/v1/auth/login", json={"email": email, "password": "typo-typo"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200


def test_login_with_malformed_input_is_a_422(client: TestClient, db: Database) -> None:
    for body in ({}, {"email": "a@b.c"}, {"email": 5, "password": "x"}, {"email": "a@b.c", "password": None}):
        resp = client.post("/api/v1/auth/login", json=body)
        assert resp.status_code == 422, body
        assert resp.json()["error"] == "invalid"
    resp = client.post("/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 422


def test_role_password_and_team_changes_apply_at_once_to_a_token_in_use(client: TestClient, db: Database) -> None:
    """Callers are remembered per token for a few seconds (agents_ui/deps.py); a change made through
    this node forgets them at once."""
    admin = login(client, db, "admin")
    team = client.post("/api/v1/teams", json={"name": "cache-test"}, headers=admin.headers).json()["id"]
    agent = login(client, db, "agent")
    assert client.get("/api/v1/routing/rules", headers=agent.headers).status_code == 403  # remembered now

    promote = client.patch(f"/api/v1/agents/{agent.id}", json={"role": "supervisor"}, headers=admin.headers)
    assert promote.status_code == 200
    assert client.get("/api/v1/routing/rules", headers=agent.headers).status_code == 200
    assert client.patch(f"/api/v1/agents/{agent.id}", json={"role": "agent"}, headers=admin.headers).status_code == 200
    assert client.get("/api/v1/routing/rules", headers=agent.headers).status_code == 403

    # Team membership is the caller's scope of work: joining or leaving a team lets them take its
    # conversations, or not, at once.
    conv = inbound(client, api_key(db))["conversation_id"]
    assert client.post(f"/api/v1/conversations/{conv}/assign", json={"team_id": team},
                       headers=admin.headers).status_code == 200

    def take() -> int:
        return client.post(f"/api/v1/conversations/{conv}/assign", json={"assignee_id": agent.id},
                           headers=agent.headers).status_code

    assert take() == 403
    assert client.post(f"/api/v1/teams/{team}/members", json={"agent_id": agent.id},
                       headers=admin.headers).status_code == 200
    assert take() == 200
    assert client.post(f"/api/v1/conversations/{conv}/assign", json={"assignee_id": None},
                       headers=agent.headers).status_code == 200  # handed back
    assert client.delete(f"/api/v1/teams/{team}/members/{agent.id}", headers=admin.headers).status_code == 200
    assert take() == 403

    # A new password ends every session of the agent.
    assert client.patch(f"/api/v1/agents/{agent.id}", json={"password": "another-password-1"},
                        headers=admin.headers).status_code == 200
    assert client.get("/api/v1/agents/me", headers=agent.headers).status_code == 401
