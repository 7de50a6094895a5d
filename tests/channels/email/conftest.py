"""Fixtures the email tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.db import Database
from tests.channels.email.smtp_side import Recorder, smtp_server
from tests.services import free_port


@pytest.fixture
def outgoing() -> Iterator[tuple[int, Recorder]]:
    """The mailboxes' outgoing SMTP server (aiosmtpd) on a free port: its port and what it got."""
    port = free_port()
    with smtp_server(port) as recorder:
        yield port, recorder


@pytest.fixture
def plain_db(database_url: str) -> Iterator[Database]:
    """A database of either kind, without a hub (the delivery worker's own transactions)."""
    database = Database(database_url)
    yield database
    database.dispose()
