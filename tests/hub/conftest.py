"""Fixtures for tests of the hub's core: a database of either kind, and a Hub on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.db import Database
from hub.runtime import Hub, HubOptions


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A module may override this (a pool size, a table of its own); `hub` then uses that one."""
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def hub(database: Database) -> Iterator[Hub]:
    """A hub without background workers; its writer is closed after the test."""
    h = Hub(database, HubOptions(run_workers=False))
    yield h
    h.writer.close()
