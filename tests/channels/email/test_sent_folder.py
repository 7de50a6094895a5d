"""Issue 15's "check before a resend": the process dies between the SMTP server's 250 and the
hub's record of it (the attempt started, no outcome). The next claim sees the row still in flight
after its lease and the adapter looks for the Message-ID in the mailbox's Sent folder (real
Dovecot) before sending: found, the reply is recorded sent and the server gets no second mail;
not found (or no way to look), it is sent once more under the same Message-ID.

The crash is the worker's outcome write raising once, then a second worker (a new process: it
holds nothing) taking the row over after the lease. Outgoing server: aiosmtpd. No fixed sleeps.
"""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Iterator
from dataclasses import replace
from email import policy
from email.message import EmailMessage

import pytest

from channels.email.adapter import EmailAdapter
from channels.email.settings import EmailSettings, ImapServer, Mailbox, SmtpServer
from hub.clock import utcnow
from hub.db import Database
from hub.delivery.claim import OUTCOME_UNKNOWN
from hub.delivery.worker import DeliveryWorker
from hub.outbox.models import OutboxItem
from tests.channels.email.imap_side import mailbox
from tests.channels.email.smtp_side import Recorder, smtp_server
from tests.channels.email.test_never_sent_twice import LEASE, _failing_once, _queue_reply, _wait_for_lease_to_lapse
from tests.dovecot import Dovecot, dovecot
from tests.factories import outbox_row
from tests.services import free_port


@pytest.fixture
def imap() -> Iterator[Dovecot]:
    with dovecot() as server:
        yield server


def _adapter(smtp_port: int, box: Mailbox, *, timeout: float = 5) -> EmailAdapter:
    box = replace(box, display_name="ACME Support", smtp=SmtpServer(port=smtp_port, timeout_seconds=timeout))
    return EmailAdapter(EmailSettings(mailboxes=(box,), secret=b"kept secret"))


def _crash_after_acceptance(plain_db: Database, item_id: int, adapter: EmailAdapter) -> None:
    """A worker sends the reply, the server accepts it, and the process dies before recording it."""
    crashed = DeliveryWorker(plain_db, {"email": adapter}, lease=LEASE)
    _failing_once(crashed)
    with pytest.raises(RuntimeError, match="the database went away"):
        asyncio.run(crashed.run_once())
    assert outbox_row(plain_db, item_id).status == "in_flight"  # the attempt started; its end is unknown
    _wait_for_lease_to_lapse(plain_db, item_id)


def _take_over(plain_db: Database, adapter: EmailAdapter) -> None:
    other = DeliveryWorker(plain_db, {"email": adapter}, lease=LEASE)  # another process: it holds nothing
    assert asyncio.run(other.run_once()) == 1


def _folder(server: Dovecot, folder: str) -> list[tuple[bytes, EmailMessage]]:
    """Each mail in `folder`: its flags and the message."""
    with server.imap() as client:
        typ, data = client.select(f'"{folder}"', readonly=True)
        assert typ == "OK", data
        if data[0] == b"0":
            return []
        typ, data = client.fetch("1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK", data
    out = []
    for part in data:
        if isinstance(part, tuple):
            msg = email.message_from_bytes(part[1], policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append((part[0], msg))
    return out


def test_a_reply_the_hub_filed_in_sent_before_the_crash_is_recorded_and_not_sent_again(
        plain_db: Database, imap: Dovecot) -> None:
    imap.create("Sent")  # flagged \Sent by the server (RFC 6154): found whatever its name
    box = mailbox(imap, append_sent=True, sent_folder="Not this one")
    port, item_id = free_port(), _queue_reply(plain_db)
    with smtp_server(port) as server:
        _crash_after_acceptance(plain_db, item_id, _adapter(port, box))
        [(_, _, mail)] = server.received
        [(flags, copy)] = _folder(imap, "Sent")  # what was sent, filed as a mail client does
        assert copy["Message-ID"] == mail["Message-ID"] and b"\\Seen" in flags
        assert copy.get_body(("plain",)).get_content() == mail.get_body(("plain",)).get_content()

        _take_over(plain_db, _adapter(port, box))
        assert len(server.received) == 1  # the customer gets it once
    row = outbox_row(plain_db, item_id)
    assert (row.status, row.provider_id, row.last_error) == ("sent", mail["Message-ID"], None)
    assert len(_folder(imap, "Sent")) == 1


def test_a_copy_the_provider_filed_in_a_folder_named_in_the_settings_is_found(
        plain_db: Database, imap: Dovecot) -> None:
    imap.create("Enviados")  # no folder flagged \Sent: the configured name is used
    box = mailbox(imap, sent_folder="Enviados")
    port, item_id = free_port(), _queue_reply(plain_db)
    with smtp_server(port) as server:
        _crash_after_acceptance(plain_db, item_id, _adapter(port, box))
        [(_, _, mail)] = server.received
        assert _folder(imap, "Enviados") == []  # append_sent is off: the hub filed nothing
        imap.append(mail.as_bytes(), folder="Enviados")  # as Gmail or Microsoft 365 do themselves

        _take_over(plain_db, _adapter(port, box))
        assert len(server.received) == 1
    assert outbox_row(plain_db, item_id).status == "sent"


def test_a_reply_not_in_sent_is_sent_once_more_under_the_same_message_id(plain_db: Database, imap: Dovecot) -> None:
    imap.create("Sent")
    box = mailbox(imap)  # the server files nothing in Sent, and the hub was not asked to
    port, item_id = free_port(), _queue_reply(plain_db)
    with smtp_server(port) as server:
        _crash_after_acceptance(plain_db, item_id, _adapter(port, box))
        _take_over(plain_db, _adapter(port, box))
        first, second = (mail for _, _, mail in server.received)
    assert first["Message-ID"] == second["Message-ID"] == outbox_row(plain_db, item_id).provider_id
    assert outbox_row(plain_db, item_id).status == "sent"


def test_when_the_sent_folder_cannot_be_read_the_reply_is_sent_again_not_held(plain_db: Database) -> None:
    box = Mailbox("support@example.com",  # nobody listens on its IMAP port
                  imap=ImapServer(port=free_port(), tls=False, username="support", timeout_seconds=5))
    port, item_id = free_port(), _queue_reply(plain_db)
    with smtp_server(port) as server:
        _crash_after_acceptance(plain_db, item_id, _adapter(port, box))
        _take_over(plain_db, _adapter(port, box))
        first, second = (mail for _, _, mail in server.received)
    assert first["Message-ID"] == second["Message-ID"]
    assert outbox_row(plain_db, item_id).status == "sent"


def _due_now(db: Database, item_id: int) -> None:
    with db.write() as s:
        row = s.get(OutboxItem, item_id)
        assert row is not None
        row.next_attempt_at = utcnow()


@pytest.mark.parametrize("filed", [True, False], ids=["copy in Sent", "no copy"])
def test_a_timeout_waiting_for_the_answer_to_data_looks_in_sent_before_the_retry(
        plain_db: Database, imap: Dovecot, filed: bool) -> None:
    imap.create("Sent")
    port, item_id = free_port(), _queue_reply(plain_db)
    release = threading.Event()
    recorder = Recorder(answer_after=release)  # takes the mail, then says nothing
    with smtp_server(port, recorder):
        worker = DeliveryWorker(plain_db, {"email": _adapter(port, mailbox(imap), timeout=1)}, lease=LEASE)
        try:
            assert asyncio.run(worker.run_once()) == 1  # the client gives up waiting for the 250
        finally:
            release.set()
        row = outbox_row(plain_db, item_id)
        assert row.status == "pending" and (row.last_error or "").startswith(OUTCOME_UNKNOWN)
        [(_, _, mail)] = recorder.received
        if filed:
            imap.append(mail.as_bytes(), folder="Sent")  # the server filed it, as Gmail does
        _due_now(plain_db, item_id)
        assert asyncio.run(worker.run_once()) == 1
        assert len(recorder.received) == (1 if filed else 2)
    assert all(m["Message-ID"] == mail["Message-ID"] for _, _, m in recorder.received)
    row = outbox_row(plain_db, item_id)
    assert (row.status, row.provider_id) == ("sent", mail["Message-ID"])
