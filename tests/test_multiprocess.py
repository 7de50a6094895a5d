"""Several `hub serve` processes sharing PostgreSQL and Redis behave as one hub.

Real processes started with the `hub` command, not threads: each has its own event bus and its
own Redis listener. The poll interval is set to 30 s so that the periodic safety-net poll cannot
mask a missing wake-up: anything that arrives within a few seconds arrived because a commit woke
the bus (locally, or through Redis from the other process).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosed

from hub.db import Database
from tests.conftest import wait_for
from tests.factories import PASSWORD, api_key, create_agent
from tests.services import REDIS_URL, free_port
from tests.wsclient import AgentSocket

ROOT = Path(__file__).resolve().parent.parent
# The `hub` console script of the interpreter running the tests (the project's venv).
HUB_BIN = shutil.which("hub", path=str(Path(sys.executable).parent)) or shutil.which("hub") or "hub"
POLL_SECONDS = 30  # far above LIVE_SECONDS: polling cannot be what delivers the message
LIVE_SECONDS = 5.0


class HubProcess:
    """One `hub serve` subprocess; its output goes to a log file shown when something fails."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [HUB_BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "info"],
            env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 30.0) -> None:
        try:
            wait_for(self._ready, timeout=timeout, interval=0.1, what=f"{self.name} /readyz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {self.name} output ---\n{self.output()}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: uvicorn shuts down gracefully (lifespan stops the hub)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def hub_env(database_url: str, *, redis_prefix: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({
        "HUB_DATABASE_URL": database_url,
        "HUB_POLL_INTERVAL_SECONDS": str(POLL_SECONDS),
        "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the venv was installed from
        "PYTHONUNBUFFERED": "1",
    })
    if redis_prefix is not None:
        env["HUB_REDIS_URL"] = REDIS_URL
        env["HUB_REDIS_PREFIX"] = redis_prefix
    return env


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[Callable[..., HubProcess]]:
    """Start `hub serve` processes; all are stopped at teardown, and their output printed (pytest
    shows it when the test failed)."""
    started: list[HubProcess] = []

    def start(name: str, env: dict[str, str]) -> HubProcess:
        proc = HubProcess(name, env, tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
    for proc in started:
        print(f"--- {proc.name} (port {proc.port}, exit {proc.proc.returncode}) ---\n{proc.output()}")


def _token(base_url: str, email: str) -> str:
    resp = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=10)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def _post_inbound(base_url: str, key: str, text: str) -> dict[str, Any]:
    resp = httpx.post(f"{base_url}/api/v1/inbound/messages", headers={"X-Api-Key": key}, timeout=10, json={
        "source": "crm", "external_id": uuid.uuid4().hex,
        "contact": {"email": f"{uuid.uuid4().hex[:8]}@example.com"}, "text": text})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _is_message(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "message.created" and f.get("data", {}).get("message", {}).get("text") == text


def _assert_live(sock: AgentSocket, text: str, posted_at: float, where: str) -> None:
    frame = sock.wait_for_frame(_is_message(text), timeout=LIVE_SECONDS, what=f"{text!r} on {where}")
    elapsed = time.monotonic() - posted_at
    assert elapsed < LIVE_SECONDS, f"{text!r} reached {where} after {elapsed:.1f}s"
    assert frame["id"] > 0


def _subscribers(channel: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))
    finally:
        client.close()


def test_two_processes_sharing_postgres_and_redis_behave_as_one_hub(
    postgres_url: str, redis_prefix: str, start_hub: Callable[..., HubProcess]
) -> None:
    env = hub_env(postgres_url, redis_prefix=redis_prefix)
    a, b = start_hub("hub-A", env), start_hub("hub-B", env)
    a.wait_ready()
    b.wait_ready()
    # Both processes' Redis listeners are subscribed: from here on a wake-up cannot be missed, so
    # a message that arrives within seconds came through Redis, not a start-up catch-up read.
    wait_for(lambda: _subscribers(f"{redis_prefix}events") >= 2, timeout=15, what="both Redis listeners")

    db = Database(postgres_url)
    try:
        _, email = create_agent(db, "supervisor")
        key = api_key(db)
    finally:
        db.dispose()
    token = _token(a.url, email)  # a session made on A is good on B: it lives in the shared database

    with AgentSocket(a.ws_url, token) as on_a, AgentSocket(b.ws_url, token) as on_b:
        on_a.wait_ready()
        on_b.wait_ready()

        posted = time.monotonic()
        _post_inbound(b.url, key, "ingested through B")
        _assert_live(on_a, "ingested through B", posted, "A")  # across processes, through Redis
        _assert_live(on_b, "ingested through B", posted, "B")  # and locally

        posted = time.monotonic()
        _post_inbound(a.url, key, "ingested through A")
        _assert_live(on_b, "ingested through A", posted, "B")
        _assert_live(on_a, "ingested through A", posted, "A")

        # A logout through B ends that session's sockets on A too: its event comes through the log.
        resp = httpx.post(f"{b.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert resp.status_code == 200, resp.text
        for sock in (on_a, on_b):
            with pytest.raises(ConnectionClosed) as closed:
                sock.wait_for_frame(lambda _f: False, timeout=LIVE_SECONDS, what="the session's end")
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    # Each message is the same event, with the same id, on both processes: one log, not two.
    for text in ("ingested through B", "ingested through A"):
        assert [f["id"] for f in on_a.frames if _is_message(text)(f)] == [
            f["id"] for f in on_b.frames if _is_message(text)(f)]


def test_one_process_without_redis_fans_out_in_process(
    database_url: str, start_hub: Callable[..., HubProcess]
) -> None:
    hub = start_hub("hub-solo", hub_env(database_url, redis_prefix=None))
    hub.wait_ready()
    db = Database(database_url)
    try:
        _, email = create_agent(db, "supervisor")
        key = api_key(db)
    finally:
        db.dispose()
    token = _token(hub.url, email)
    with AgentSocket(hub.ws_url, token) as sock:
        sock.wait_ready()
        posted = time.monotonic()
        _post_inbound(hub.url, key, "alone")
        _assert_live(sock, "alone", posted, "the same process")
