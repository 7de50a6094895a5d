"""Fixtures of the agent API's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from config.app import create_app
from config.settings import Settings
from tests.factories import AgentLogin, login


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    """Like `client`, but a server error comes back as the 500 a user would get instead of raising."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin(api: TestClient) -> AgentLogin:
    return login(api, api.app.state.hub.db, "admin")  # type: ignore[attr-defined]


@pytest.fixture(params=["company", "team"])
def visibility(request: pytest.FixtureRequest) -> str:
    """Both visibility modes (hub/events/visibility.py), for a test module's `settings` to use."""
    return str(request.param)
