"""Browser tests: the console in Debian's Chromium, driven by Playwright, against a real hub.

One browser and one hub per module (starting them is most of the cost); each test makes its own
agents and customers, so tests do not see each other's data. They run on SQLite only: what they
check is the page, and the API tests already cover both databases.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from config.settings import Settings
from hub.agents import passwords
from hub.db import Database
from tests.conftest import LiveServer, make_settings
from tests.factories import PASSWORD, create_agent, create_team
from tests.services import IN_CI, free_port

CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
NO_CAPACITY = {"api": 0, "sms": 0, "email": 0, "webchat": 0, "voice": 0}


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium is not at {CHROMIUM} (Debian: apt-get install chromium; `make test` does it as root)"
    if IN_CI:
        pytest.fail(f"{message}; CI needs it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def cheap_hashing() -> Iterator[None]:
    saved = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    passwords._hasher = saved


class Hub:
    """A live hub on a fixed port (so it can be restarted where the browser expects it)."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.server: LiveServer | None = None
        self.db = Database(settings.database_url)
        self._key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Hub:
        self.server = LiveServer(self.settings, port=self.port).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def agent(self, role: str = "agent", *, name: str | None = None, teams: list[int] | None = None,
              capacities: dict[str, int] | None = None) -> Agent:
        """An agent routing never picks (no capacity): tests assign work themselves, so agents
        of earlier tests on the same hub cannot take it."""
        agent_id, email = create_agent(self.db, role, teams=teams, capacities=capacities or NO_CAPACITY)
        if name is not None:
            from hub.agents.actions import get_agent

            with self.db.write() as s:
                get_agent(s, agent_id).name = name
        return Agent(agent_id, email, name or f"{role.title()} {email}")

    def team(self, name: str | None = None) -> int:
        return create_team(self.db, name)

    def token(self, agent: Agent) -> str:
        resp = httpx.post(f"{self.url}/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["token"])

    def api(self, method: str, path: str, agent: Agent, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token(agent)}"},
                             **kwargs)

    @property
    def api_key(self) -> str:
        if self._key is None:
            from tests.factories import api_key

            self._key = api_key(self.db)
        return self._key

    def customer_says(self, text: str, *, email: str, name: str | None = None, subject: str | None = None,
                      external_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"source": "crm", "external_id": external_id or f"m-{os.urandom(6).hex()}",
                                "contact": {"email": email, **({"name": name} if name else {})}, "text": text}
        if subject:
            body["subject"] = subject
        resp = httpx.post(f"{self.url}/api/v1/inbound/messages", json=body, headers={"X-Api-Key": self.api_key})
        assert resp.status_code in (200, 201), resp.text
        return resp.json()  # type: ignore[no-any-return]


@dataclass
class Agent:
    id: int
    email: str
    name: str


def running_hub(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, **overrides: Any) -> Iterator[Hub]:
    """A live hub on a copy of the template database; `overrides` as for `make_settings` (a test
    module overriding the `hub` fixture with its own settings yields from this)."""
    target = tmp_path_factory.mktemp("browser") / "hub.db"
    shutil.copy(sqlite_template, target)
    port = free_port()
    settings = make_settings(f"sqlite:///{target}", public_url=f"http://127.0.0.1:{port}", **overrides)
    server = Hub(settings, port).start()
    yield server
    server.stop()
    server.db.dispose()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, cheap_hashing: None) -> Iterator[Hub]:
    yield from running_hub(tmp_path_factory, sqlite_template)


@pytest.fixture
def new_page(browser: Any, hub: Hub) -> Iterator[Any]:
    """Pages signed in as a given agent (a context each: their own cookies, like separate people)."""
    contexts: list[Any] = []

    def open_as(agent: Agent | None, *, locale: str = "en-US", path: str = "/") -> Any:
        context = browser.new_context(viewport=VIEWPORT, locale=locale, base_url=hub.url)
        contexts.append(context)
        if agent is not None:
            context.add_cookies([{"name": "hub_session", "value": hub.token(agent), "url": hub.url}])
        page = context.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
        page.goto(path)
        return page

    yield open_as
    for context in contexts:
        context.close()
