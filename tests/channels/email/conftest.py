"""Fixtures the email tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.email.smtp_side import Recorder, smtp_server
from tests.services import free_port


@pytest.fixture
def outgoing() -> Iterator[tuple[int, Recorder]]:
    """The mailboxes' outgoing SMTP server (aiosmtpd) on a free port: its port and what it got."""
    port = free_port()
    with smtp_server(port) as recorder:
        yield port, recorder
