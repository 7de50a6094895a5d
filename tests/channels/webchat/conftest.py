"""Shared by the web chat's socket tests: a visitor on the shop's page (test_socket.py keeps its
own, richer `visit`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.channels.webchat.test_socket import SHOP, Visitor


@pytest.fixture
def visit(client: TestClient) -> Iterator[Any]:
    """Opens a new visitor (no token: a new browser) on widget "shop" from the shop's origin."""
    opened: list[Any] = []

    def open_visit() -> Visitor:
        ctx = client.websocket_connect("/ws/widget?widget=shop", headers={"origin": SHOP})
        opened.append(ctx)
        return Visitor(ctx.__enter__(), {"token": None, "last_event_id": 0})

    yield open_visit
    for ctx in reversed(opened):
        ctx.__exit__(None, None, None)
