"""A real SMTP server (aiosmtpd) standing in for a mailbox's outgoing server, on a free port."""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Recorder:
    """Accepts mail, or answers RCPT/DATA with the configured refusal."""

    rcpt_answer: dict[str, str] = field(default_factory=dict)  # address -> "550 ..." refusal
    data_answer: str | None = None  # e.g. "451 4.3.0 try later"
    # Set: the mail is taken, and the answer to DATA waits until this is set (a client times out).
    answer_after: threading.Event | None = None
    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if address in self.rcpt_answer:
            return self.rcpt_answer[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_answer:
            return self.data_answer
        msg = email.message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        if self.answer_after is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.answer_after.wait)
        return "250 2.0.0 Ok: queued as 4711"


@contextmanager
def smtp_server(port: int, recorder: Recorder | None = None) -> Iterator[Recorder]:
    recorder = recorder or Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()
