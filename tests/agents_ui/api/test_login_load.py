"""Logins under load: password checks hold no write lock and are bounded, so they cannot stall ingest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from config.app import create_app
from config.settings import Settings
from hub.agents import actions as agent_actions
from hub.agents import passwords
from hub.agents.models import AuthToken
from hub.db import Database
from tests.conftest import make_settings, wait_for
from tests.factories import PASSWORD, api_key, create_agent, inbound


class SlowHasher:
    """Argon2, but each verification waits until the test lets it finish."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.release = threading.Event()
        self.started = 0
        self.lock = threading.Lock()
        self.slow_hashing = False  # new passwords too, not only checks

    def hash(self, password: str) -> str:
        if self.slow_hashing:
            with self.lock:
                self.started += 1
            assert self.release.wait(timeout=120), "the test never released the slow hasher"
        return self.real.hash(password)  # type: ignore[attr-defined, no-any-return]

    def verify(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.started += 1
        assert self.release.wait(timeout=120), "the test never released the slow hasher"
        return self.real.verify(password_hash, password)  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def slow_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowHasher]:
    hasher = SlowHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    yield hasher
    hasher.release.set()


def _fail_login(client: TestClient, email: str, answers: list[int], headers: dict[str, str] | None = None) -> None:
    resp = client.post("/api/v1/auth/login", json={"email": email, "password": "not the password"},
                       headers=headers or {})
    answers.append(resp.status_code)


def test_an_inbound_message_is_stored_while_failed_logins_are_being_checked(
    client: TestClient, db: Database, slow_hasher: SlowHasher
) -> None:
    """Before: each login held the hub-wide write lock during its ~0.45 s hash, so 20 parallel
    failed logins made one inbound API message wait 5-14 s. Now the message is stored while every
    login is still waiting for its hash. Unknown emails cost a check too (against a dummy hash), so
    timing does not tell which emails have accounts."""
    key = api_key(db)
    _, email = create_agent(db, "agent")
    answers: list[int] = []
    logins = [threading.Thread(target=_fail_login, args=(client, e, answers))
              for e in [email, "nobody@test.example"] * 4]
    for t in logins:
        t.start()
    # Generous bounds: the machine may be busy; before the fix the message waited for every check.
    wait_for(lambda: slow_hasher.started >= 1, timeout=30, what="a password check to start")

    stored: list[dict[str, object]] = []
    message = threading.Thread(target=lambda: stored.append(inbound(client, key, text="still served")))
    message.start()
    try:
        wait_for(lambda: stored, timeout=60, what="the inbound message while logins are checked")
        assert answers == []  # every login is still in flight
    finally:
        slow_hasher.release.set()
        message.join(timeout=120)
        for t in logins:
            t.join(timeout=120)
    assert answers == [401] * 8
    assert slow_hasher.started == 8


@pytest.mark.parametrize("change", [{"password": "another-password-1"}, {"active": False}])
def test_a_login_checked_while_its_password_changes_or_its_agent_is_deactivated_opens_no_session(
    client: TestClient, db: Database, slow_hasher: SlowHasher, change: dict[str, object]
) -> None:
    """The password is checked outside the transaction; the session row is written only if the
    agent is still active with the password that was checked."""
    agent_id, email = create_agent(db, "agent")
    admin_id, _ = create_agent(db, "admin")
    with db.write() as s:
        admin = agent_actions.do_create_token(s, agent_actions.get_agent(s, admin_id), timedelta(hours=1))
    answers: list[Response] = []
    attempt = threading.Thread(target=lambda: answers.append(
        client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})))
    attempt.start()
    try:
        wait_for(lambda: slow_hasher.started == 1, timeout=30, what="the password check to start")
        resp = client.patch(f"/api/v1/agents/{agent_id}", json=change, headers={"Authorization": f"Bearer {admin}"})
        assert resp.status_code == 200
    finally:
        slow_hasher.release.set()
        attempt.join(timeout=120)
    assert answers[0].status_code == 401
    assert "set-cookie" not in answers[0].headers
    with db.read() as s:
        assert s.execute(select(AuthToken).where(AuthToken.agent_id == agent_id)).first() is None


@pytest.mark.parametrize("write", ["create", "change"])
def test_an_inbound_message_is_stored_while_an_admin_sets_a_password(
    client: TestClient, db: Database, slow_hasher: SlowHasher, write: str
) -> None:
    """Hashing a new password (creating an agent, changing a password) happens before the write
    transaction too: each held the hub-wide write lock for the hash's ~0.45 s."""
    key = api_key(db)
    agent_id, _ = create_agent(db, "agent")
    admin_id, _ = create_agent(db, "admin")
    with db.write() as s:
        admin = agent_actions.do_create_token(s, agent_actions.get_agent(s, admin_id), timedelta(hours=1))
    headers = {"Authorization": f"Bearer {admin}"}
    slow_hasher.slow_hashing = True
    answers: list[Response] = []

    def admin_writes() -> None:
        if write == "create":
            answers.append(client.post("/api/v1/agents", headers=headers, json={
                "email": "new.agent@test.example", "name": "New Agent", "role": "agent",
                "password": "a-new-password-1"}))
        else:
            answers.append(client.patch(f"/api/v1/agents/{agent_id}", headers=headers,
                                        json={"password": "a-new-password-1"}))

    admin_thread = threading.Thread(target=admin_writes)
    admin_thread.start()
    stored: list[dict[str, object]] = []
    message = threading.Thread(target=lambda: stored.append(inbound(client, key, text="still served")))
    try:
        wait_for(lambda: slow_hasher.started == 1, timeout=30, what="the new password's hash to start")
        message.start()
        wait_for(lambda: stored, timeout=60, what="the inbound message while a password is hashed")
        assert answers == []
    finally:
        slow_hasher.release.set()
        admin_thread.join(timeout=120)
        if message.ident is not None:  # started
            message.join(timeout=120)
    assert answers[0].status_code in (200, 201), answers[0].text


@pytest.fixture
def narrow_client(database_url: str) -> Iterator[TestClient]:
    settings: Settings = make_settings(database_url, login_verify_slots=2, login_verify_queue=2)
    with TestClient(create_app(settings)) as c:
        yield c


def test_password_checks_beyond_the_queue_are_refused_at_once_with_retry_after(
    narrow_client: TestClient, slow_hasher: SlowHasher
) -> None:
    """Two checks run, two wait; the fifth at once gets 503 with Retry-After instead of piling up
    threads and memory (a burst of logins cannot take every core or grow without bound)."""
    answers: list[int] = []
    logins = [threading.Thread(target=_fail_login,
                               args=(narrow_client, f"a{i}@test.example", answers))
              for i in range(4)]
    for t in logins:
        t.start()
    try:
        wait_for(lambda: slow_hasher.started == 2, timeout=30, what="two password checks to run")
        wait_for(lambda: narrow_client.app.state.logins.checks.waiting == 2,  # type: ignore[attr-defined]
                 timeout=30, what="two checks to wait")
        resp = narrow_client.post("/api/v1/auth/login", json={"email": "late@test.example", "password": PASSWORD})
        assert resp.status_code == 503
        assert resp.json()["error"] == "busy"
        assert int(resp.headers["retry-after"]) >= 1
        assert answers == []
    finally:
        slow_hasher.release.set()
        for t in logins:
            t.join(timeout=120)
    assert answers == [401] * 4
    assert slow_hasher.started == 4
