"""The hub's SMTP listener with Python's smtplib as the relay: 250 only after commit, 451, 552, 550."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from channels.email import smtp_in
from channels.email.parsing import ParsedEmail, parse_email
from channels.email.settings import EmailSettings, Mailbox, SmtpListener
from channels.email.smtp_in import Listener
from hub.ports import InboundMessage, IngestResult, RawPayload, RejectedMessage
from tests.channels.email.imap_side import FilesKept
from tests.services import free_port

CORPUS = Path(__file__).parent / "corpus"
SETTINGS = EmailSettings(mailboxes=(Mailbox("support@example.com"), Mailbox("sales@example.com")),
                         listener=SmtpListener(enabled=True, max_bytes=200_000, parse_inline_below=1_000))


@dataclass
class FakePort(FilesKept):
    """The port's ingest and raw store, in memory. `fail` makes ingest raise (the database is down)."""

    committed: list[InboundMessage] = field(default_factory=list)
    kept: list[RawPayload] = field(default_factory=list)
    fail: Exception | None = None
    loop_threads: set[str] = field(default_factory=set)

    async def ingest_async(self, message: InboundMessage) -> IngestResult:
        self.loop_threads.add(threading.current_thread().name)
        if self.fail:
            raise self.fail
        if any((m.ingest_scope, m.external_id) == (message.ingest_scope, message.external_id) for m in self.committed):
            return IngestResult(1, 1, 1, created=False)
        self.committed.append(message)
        return IngestResult(len(self.committed), 1, 1, created=True)

    async def keep_raw_async(self, payload: RawPayload) -> Any:
        if isinstance(self.fail, OSError):
            raise self.fail
        self.kept.append(payload)



@contextmanager
def listening(port: FakePort, settings: EmailSettings = SETTINGS) -> Iterator[Callable[..., Any]]:
    """The listener on its own event loop thread; yields `call(coro_fn)` to run on that loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hub-loop", daemon=True)
    thread.start()
    settings = replace(settings, listener=replace(settings.listener, port=free_port()))
    listener = Listener(settings, port)
    asyncio.run_coroutine_threadsafe(listener.start(), loop).result(10)
    try:
        yield lambda: listener.address
    finally:
        stop: Future[None] = asyncio.run_coroutine_threadsafe(listener.stop(), loop)
        stop.result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _relay(address: tuple[str, int], raw: bytes, rcpts: list[str]) -> tuple[int, bytes]:
    """Sends like a relay does; returns the listener's answer to DATA."""
    with smtplib.SMTP(*address, timeout=10) as client:
        client.ehlo()
        client.mail("relay@mx.example.net")
        for rcpt in rcpts:
            code, words = client.rcpt(rcpt)
            if code != 250:
                return code, words
        return client.data(raw)


def test_a_mail_is_answered_250_only_once_committed_and_a_redelivery_is_a_no_op() -> None:
    port = FakePort()
    raw = (CORPUS / "outlook_reply.eml").read_bytes()
    with listening(port) as address:
        code, words = _relay(address(), raw, ["support@example.com"])
        assert (code, len(port.committed)) == (250, 1)
        assert _relay(address(), raw, ["support@example.com"])[0] == 250
    assert len(port.committed) == 1
    [message] = port.committed
    assert (message.channel, message.source, message.ingest_scope) == ("email", "support@example.com",
                                                                      "email:support@example.com")
    assert message.contact.email == "john.smith@example.co.uk"
    assert message.subject == "RE: Router keeps disconnecting [#k3j4h5g6f7]"
    meta = message.metadata["email"]
    assert meta["kind"] == "human" and meta["visible_text"].startswith("Hi, I’ve restarted it")
    keys = getattr(message, "thread_keys", None) or tuple(meta["thread_keys"])
    assert tuple(keys) == ("token:k3j4h5g6f7", "<second.k3@example.com>", "<first.k3@example.com>")


def test_one_mail_to_two_mailboxes_lands_in_each() -> None:
    port = FakePort()
    with listening(port) as address:
        assert _relay(address(), (CORPUS / "gmail_reply.eml").read_bytes(),
                      ["support@example.com", "sales@example.com"])[0] == 250
    assert sorted(m.source for m in port.committed) == ["sales@example.com", "support@example.com"]


def test_an_internal_failure_is_answered_451_so_the_relay_retries() -> None:
    port = FakePort(fail=RuntimeError("database is down"))
    with listening(port) as address:
        code, words = _relay(address(), (CORPUS / "gmail_reply.eml").read_bytes(), ["support@example.com"])
    assert code == 451 and b"try again later" in words
    assert port.committed == [] and port.kept == []


def test_a_big_mail_is_parsed_off_the_event_loop_and_one_over_the_limit_is_refused_552(
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = FakePort()
    parsed_on: list[str] = []

    def spy(raw: bytes, **kw: Any) -> ParsedEmail:
        parsed_on.append(threading.current_thread().name)
        return parse_email(raw, **kw)

    monkeypatch.setattr(smtp_in, "parse_email", spy)
    lines = b"x" * 68 + b"\r\n"
    big = (CORPUS / "gmail_reply.eml").read_bytes().replace(b"Thanks, that fixed it!\r\n",
                                                          b"Thanks, that fixed it!\r\n" + lines * 1000, 1)
    assert 70_000 < len(big) < SETTINGS.listener.max_bytes
    too_big = big + lines * (SETTINGS.listener.max_bytes // len(lines))
    with listening(port) as address:
        assert _relay(address(), big, ["support@example.com"])[0] == 250
        code, words = _relay(address(), too_big, ["support@example.com"])
    assert code == 552
    assert len(port.committed) == 1
    small = (CORPUS / "nul_byte.eml").read_bytes()
    with listening(port) as address:
        assert _relay(address(), small, ["support@example.com"])[0] == 250
    assert parsed_on[0] != "hub-loop" and parsed_on[-1] == "hub-loop"  # small mail: parsed inline


def test_an_unreadable_mail_is_kept_raw_with_its_reason_and_answered_250() -> None:
    port = FakePort()
    raw = (CORPUS / "no_from.eml").read_bytes()
    with listening(port) as address:
        code, words = _relay(address(), raw, ["support@example.com"])
    assert code == 250 and b"kept for review" in words
    assert port.committed == []
    [kept] = port.kept
    assert (kept.channel, kept.source, kept.reason, kept.content_type) == (
        "email", "support@example.com", "no From header", "message/rfc822")
    assert kept.payload.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


def test_a_mail_the_hub_refuses_for_good_is_kept_raw_and_answered_250() -> None:
    port = FakePort(fail=RejectedMessage("contact.email: not a valid address"))
    with listening(port) as address:
        assert _relay(address(), (CORPUS / "gmail_reply.eml").read_bytes(), ["support@example.com"])[0] == 250
    [kept] = port.kept
    assert kept.reason == "refused by the hub: contact.email: not a valid address"
    assert kept.external_id == "<CAOx3=kQ9+gmail@mail.gmail.com>"


def test_when_even_the_raw_store_fails_the_answer_is_451() -> None:
    port = FakePort(fail=OSError("disk full"))
    with listening(port) as address:
        assert _relay(address(), (CORPUS / "no_from.eml").read_bytes(), ["support@example.com"])[0] == 451


@pytest.mark.parametrize("rcpt", ["someone@example.com", "support@other.example", "support-x@example.com"])
def test_mail_for_anyone_but_our_mailboxes_is_refused_550(rcpt: str) -> None:
    port = FakePort()
    with listening(port) as address:
        code, _ = _relay(address(), (CORPUS / "gmail_reply.eml").read_bytes(), [rcpt])
    assert code == 550 and port.committed == []
