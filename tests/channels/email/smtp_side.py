"""A real SMTP server (aiosmtpd) standing in for a mailbox's outgoing server, on a free port."""

from __future__ import annotations

import asyncio
import email
import threading
import uuid
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


def delivery_report(message_id: str, recipient: str,
                    diagnostic: str = "550 5.1.1 <{recipient}>: Recipient address rejected: User unknown") -> bytes:
    """What a receiving server sends back when our mail `message_id` could not reach `recipient`:
    a delivery status report (RFC 3464) from its MAILER-DAEMON, with the headers of our mail."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: support@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <bounce-{uuid.uuid4().hex}@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        f"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered to {recipient}.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; {diagnostic.format(recipient=recipient)}\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@example.com\r\nTo: {recipient}\r\nMessage-ID: {message_id}\r\n"
        "--B--\r\n").encode()
