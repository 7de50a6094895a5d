"""Issue 15's "never sent twice": a reply's Message-ID is minted and stored with its outbox row
before the first attempt, every attempt sends under it, and a worker that saw the server accept a
mail never sends it again, even when recording the outcome failed. What is not promised: after
the process dies between the server's 250 and the commit, another worker sends again, under the
same Message-ID (the customer's client shows one mail).

The outgoing server is aiosmtpd; the delivery worker runs its passes by hand with a short lease;
the "failed outcome write" is the worker's recording transaction raising once. SQLite and
PostgreSQL. No fixed sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from channels.email.adapter import EmailAdapter
from channels.email.settings import EmailSettings, Mailbox, SmtpServer
from hub.clock import utcnow
from hub.db import Database
from hub.delivery.worker import DeliveryWorker
from hub.outbox.models import OutboxItem
from tests.channels.email.smtp_side import smtp_server
from tests.conftest import wait_for
from tests.factories import outbox_row, queued
from tests.services import free_port

LEASE = timedelta(seconds=1)



def _adapter(port: int) -> EmailAdapter:
    box = Mailbox("support@example.com", display_name="ACME Support", smtp=SmtpServer(port=port, timeout_seconds=5))
    return EmailAdapter(EmailSettings(mailboxes=(box,), secret=b"kept secret"))


def _queue_reply(plain_db: Database) -> int:
    return queued(plain_db, "email", {"source": "support@example.com", "to": "ana@example.org",
                                "text": "Restart it, please.", "subject": "Router"})


def _failing_once(worker: DeliveryWorker) -> None:
    """The worker's next outcome write fails (the database went away after the server's 250)."""
    real: Callable[[Callable[[Any], None]], None] = worker._record_alone

    def record(op: Callable[[Any], None]) -> None:
        worker._record_alone = real  # type: ignore[method-assign]
        raise RuntimeError("the database went away")

    worker._record_alone = record  # type: ignore[method-assign]


def _wait_for_lease_to_lapse(plain_db: Database, item_id: int) -> None:
    until = outbox_row(plain_db, item_id).lease_until
    assert until is not None
    wait_for(lambda: utcnow() > until, what="the lease to lapse")


def test_the_message_id_is_stored_before_the_first_attempt_and_every_retry_sends_under_it(plain_db: Database) -> None:
    port = free_port()
    item_id = _queue_reply(plain_db)
    assert outbox_row(plain_db, item_id).send_key is None
    worker = DeliveryWorker(plain_db, {"email": _adapter(port)}, lease=LEASE)
    assert asyncio.run(worker.run_once()) == 1  # the server is down: a transient failure
    row = outbox_row(plain_db, item_id)
    assert row.status == "pending" and "unreachable" in (row.last_error or "")
    stored = row.send_key
    assert stored is not None and stored.startswith("<") and stored.endswith("@example.com>")

    with plain_db.write() as s:  # due now rather than after its backoff
        pending = s.get(OutboxItem, item_id)
        assert pending is not None
        pending.next_attempt_at = utcnow()
    with smtp_server(port) as server:
        assert asyncio.run(worker.run_once()) == 1
    [(_, _, mail)] = server.received
    row = outbox_row(plain_db, item_id)
    assert mail["Message-ID"] == stored == row.send_key == row.provider_id
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_retry_after_the_server_accepted_but_the_outcome_write_failed_sends_no_second_mail(
        plain_db: Database) -> None:
    port = free_port()
    item_id = _queue_reply(plain_db)
    with smtp_server(port) as server:
        worker = DeliveryWorker(plain_db, {"email": _adapter(port)}, lease=LEASE)
        _failing_once(worker)
        with pytest.raises(RuntimeError, match="the database went away"):
            asyncio.run(worker.run_once())
        [(_, _, mail)] = server.received  # the server took it ...
        row = outbox_row(plain_db, item_id)
        assert (row.status, row.send_key) == ("in_flight", mail["Message-ID"])  # ... the hub did not record it

        _wait_for_lease_to_lapse(plain_db, item_id)
        assert asyncio.run(worker.run_once()) == 1  # claimed again: recorded, not sent
        assert len(server.received) == 1
    row = outbox_row(plain_db, item_id)
    assert (row.status, row.provider_id) == ("sent", mail["Message-ID"])
    assert worker.accepted == {}


def test_after_a_crash_between_acceptance_and_recording_the_resend_carries_the_identical_message_id(
        plain_db: Database) -> None:
    port = free_port()
    item_id = _queue_reply(plain_db)
    with smtp_server(port) as server:
        crashed = DeliveryWorker(plain_db, {"email": _adapter(port)}, lease=LEASE)
        _failing_once(crashed)
        with pytest.raises(RuntimeError):
            asyncio.run(crashed.run_once())
        # The process is gone with what it knew; another one takes the row over after its lease.
        _wait_for_lease_to_lapse(plain_db, item_id)
        other = DeliveryWorker(plain_db, {"email": _adapter(port)}, lease=LEASE)
        assert asyncio.run(other.run_once()) == 1
    first, second = (mail for _, _, mail in server.received)
    assert first["Message-ID"] == second["Message-ID"] == outbox_row(plain_db, item_id).provider_id
    assert first["Subject"] == second["Subject"]  # the same reply token too: it threads the same way
