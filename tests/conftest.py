"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, the app, a live server."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import SQLModel

import hub.models  # noqa: F401  (registers every table in SQLModel.metadata)
from config.app import create_app
from config.settings import Settings
from hub.agents import passwords
from hub.db import Database
from hub.migrate import upgrade
from tests.services import clear_redis_prefix, free_port, fresh_pg_database, redis_prefix_or_skip

# Every table the models define (hub.models imports them all), so a new table is emptied between
# tests without anyone remembering to list it here.
TABLES = [table.name for table in SQLModel.metadata.sorted_tables]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One fresh PostgreSQL database for the whole run, migrated; tests truncate it."""
    with fresh_pg_database() as url:
        upgrade(url)
        yield url


def _truncate_pg(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        names = ", ".join(t for t in TABLES if db.engine.dialect.has_table(conn, t))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL, each with an empty database."""
    if request.param == "sqlite":
        target = tmp_path / "hub.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "hub.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def postgres_url(pg_url: str) -> str:
    _truncate_pg(pg_url)
    return pg_url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = redis_prefix_or_skip()
    yield prefix
    clear_redis_prefix(prefix)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": None,
        "poll_interval_seconds": 0.2,
        "public_url": "http://testserver",
        "admin_password": None,
        # Content-addressed, so tests could share one; a folder each keeps them apart anyway.
        "attachments_dir": tempfile.mkdtemp(prefix="hub-attachments-"),
        # Keys for sealed secrets and email ids derive from it (config/secrets.py): no file in var/.
        "secret_key": "test-secret-key",
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def db(client: TestClient) -> Database:
    return client.app.state.hub.db  # type: ignore[attr-defined, no-any-return]


class LiveServer:
    def __init__(self, settings: Settings, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.app = create_app(settings)
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=15, what="server start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings).start()
    yield server
    server.stop()


def wait_for(
    check: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition", interval: float = 0.02
) -> Any:
    """Poll until check() is truthy; fail with a clear message after timeout. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its lowest cost, for modules where hashing is not under test (its tuned cost would
    dominate the run): `pytestmark = pytest.mark.usefixtures("cheap_password_hashing")`."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
