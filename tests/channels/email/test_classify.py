"""Machines' mail is told apart from people's by its headers (the corpus covers whole messages)."""

from __future__ import annotations

import pytest

from channels.email.classify import classify
from channels.email.parsing import parse_email


def _mail(extra: str, sender: str = "ana@example.org") -> bytes:
    return (f"From: {sender}\r\nTo: support@example.com\r\nSubject: Hi\r\nMessage-ID: <c@x>\r\n{extra}"
            "Content-Type: text/plain\r\n\r\nHello\r\n").encode()


@pytest.mark.parametrize("extra, kind", [
    ("", "human"),
    ("Auto-Submitted: no\r\n", "human"),
    ("Auto-Submitted: auto-generated\r\n", "auto_reply"),
    ("Auto-Submitted: Auto-Replied; owner-email=\"x@y.z\"\r\n", "auto_reply"),
    ("X-Autorespond: vacation\r\n", "auto_reply"),
    ("X-Autoreply: yes\r\n", "auto_reply"),
    ("X-Auto-Response-Suppress: OOF, DR\r\n", "auto_reply"),
    ("X-Auto-Response-Suppress: All\r\n", "human"),  # Outlook sets it on people's meeting mail too
    ("Precedence: bulk\r\n", "bulk"),
    ("Precedence: JUNK\r\n", "bulk"),
    ("Precedence: list\r\n", "bulk"),
    ("List-Unsubscribe: <mailto:u@example.org>\r\n", "bulk"),
    ("List-Id: <news.example.org>\r\n", "bulk"),
    ("Auto-Submitted: auto-replied\r\nPrecedence: bulk\r\n", "auto_reply"),
])
def test_headers_decide_the_kind(extra: str, kind: str) -> None:
    assert classify(parse_email(_mail(extra))).kind == kind


def test_a_mailer_daemon_is_a_bounce_whatever_its_headers() -> None:
    verdict = classify(parse_email(_mail("", sender="Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>")))
    assert verdict.kind == "bounce"
    assert verdict.bounce is not None and verdict.bounce.reason == "Hi"  # no SMTP status line: the subject


def test_a_delayed_report_is_a_bounce_that_is_not_permanent() -> None:
    raw = (b"From: postmaster@mx.example.org\r\nTo: support@example.com\r\nSubject: Delayed Mail\r\n"
           b"In-Reply-To: <ours@example.com>\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
           b"--r\r\nContent-Type: text/plain\r\n\r\nStill trying.\r\n"
           b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
           b"Final-Recipient: rfc822; slow@example.net\r\nAction: delayed\r\nStatus: 4.4.7\r\n\r\n--r--\r\n")
    verdict = classify(parse_email(raw))
    assert verdict.kind == "bounce" and verdict.bounce is not None
    assert verdict.bounce.permanent is False
    assert verdict.bounce.original_message_id == "<ours@example.com>"  # from In-Reply-To: no headers attached
    assert (verdict.bounce.reason, verdict.bounce.recipient) == ("4.4.7", "slow@example.net")


def test_a_read_receipt_is_an_auto_reply() -> None:
    raw = (b"From: ana@example.org\r\nTo: support@example.com\r\nSubject: Read: Hi\r\n"
           b"Content-Type: multipart/report; report-type=disposition-notification; boundary=r\r\n\r\n"
           b"--r\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n--r--\r\n")
    assert classify(parse_email(raw)).kind == "auto_reply"
