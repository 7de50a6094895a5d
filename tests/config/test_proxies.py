"""`hub serve` believes a forwarded client address only from a configured proxy, and the login
throttle keys on that address: a guesser slows themselves, not the rightful user."""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from config import cli
from hub.db import Database
from tests.conftest import wait_for
from tests.factories import PASSWORD, create_agent
from tests.services import free_port

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    for name in ("HUB_ADMIN_PASSWORD", "HUB_CONFIG", "HUB_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    return url


@contextmanager
def served(monkeypatch: pytest.MonkeyPatch, *, trusted: list[str] | None = None) -> Iterator[str]:
    """`hub serve` as it would run (its app and its uvicorn options), on a free port."""
    if trusted is not None:
        monkeypatch.setenv("HUB_TRUSTED_PROXIES", json.dumps(trusted))
    started: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.append((app, kw)))
    assert cli.main(["serve"]) == 0
    ((app, options),) = started
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
        proxy_headers=options["proxy_headers"],
    ))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=15, what="server start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        gc.unfreeze()  # serve froze the heap at startup


def _agent(db_url: str) -> str:
    assert cli.main(["db", "upgrade"]) == 0
    db = Database(db_url)
    try:
        return create_agent(db, "agent")[1]
    finally:
        db.dispose()


def _login(base: str, email: str, password: str, client_address: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password},
                      headers={"X-Forwarded-For": client_address}, timeout=30)


def test_forwarded_addresses_from_an_untrusted_peer_are_ignored(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default nothing is trusted (uvicorn alone trusts 127.0.0.1): a guesser cannot escape the
    throttle by naming a new address in each request."""
    email = _agent(db_url)
    with served(monkeypatch) as base:
        for i in range(5):
            assert _login(base, email, "guess-guess", f"10.0.0.{i}").status_code == 401
        resp = _login(base, email, PASSWORD, "10.0.0.99")
    assert resp.status_code == 429
    assert int(resp.headers["retry-after"]) >= 1


def test_behind_a_trusted_proxy_each_client_is_throttled_on_its_own(db_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    email = _agent(db_url)
    with served(monkeypatch, trusted=["127.0.0.0/8"]) as base:
        for _ in range(5):
            assert _login(base, email, "guess-guess", "10.0.0.66").status_code == 401
        assert _login(base, email, PASSWORD, "10.0.0.66").status_code == 429  # the guesser waits
        assert _login(base, email, PASSWORD, "192.168.1.7").status_code == 200  # the agent does not


def test_guessing_an_account_from_many_addresses_does_not_lock_out_its_owner(db_url: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: five wrong passwords, typed by anyone, locked the account for everyone for 5 minutes."""
    email = _agent(db_url)
    with served(monkeypatch, trusted=["127.0.0.1"]) as base:
        assert _login(base, email, PASSWORD, "192.168.1.7").status_code == 200  # the agent's usual address
        answers = [_login(base, email, "guess-guess", f"10.0.{i}.1").status_code for i in range(15)]
        assert answers[:10] == [401] * 10
        assert 429 in answers  # strangers' attempts now wait
        assert _login(base, email, PASSWORD, "192.168.1.7").status_code == 200


