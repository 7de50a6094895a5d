"""Outgoing mail through the mailbox's SMTP server (aiosmtplib), its errors in the port's terms.

Connection trouble, timeouts and 4xx answers are transient (the outbox retries with backoff); a
timeout or a dropped connection once connected may have lost only the server's answer to DATA
(`OutcomeUnknown`: the retry looks in the Sent folder first);
5xx answers and recipients refused for good are permanent and carry the server's own words,
e.g. "550 5.1.1 <ana@example.com>: Recipient address rejected: User unknown".
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from channels.email.charsets import one_line
from channels.email.settings import SmtpServer
from hub.ports import OutcomeUnknown, PermanentError, TransientError


@dataclass(frozen=True)
class Accepted:
    response: str  # the server's answer to DATA, e.g. "250 2.0.0 Ok: queued as 4BXyz"
    refused: dict[str, str]  # recipients the server refused while accepting others: address -> words


def _words(code: int, message: str) -> str:
    return one_line(f"{code} {message}")[:500]


def _refusal(code: int, message: str, what: str, reason: str) -> TransientError | PermanentError:
    """`what` (ours, English: the console says `reason` in the agent's language), then the server's words."""
    words = _words(code, message)
    return (TransientError if 400 <= code < 500 else PermanentError)(f"{what}: {words}", reason=reason, words=words)


async def send(server: SmtpServer, message: EmailMessage, *, sender: str,
               recipients: Sequence[str]) -> Accepted:
    """Sends `message` to `recipients` (the envelope; Bcc never appears in headers)."""
    try:
        errors, response = await aiosmtplib.send(
            message, sender=sender, recipients=list(recipients),
            hostname=server.host, port=server.port, username=server.username, password=server.password,
            use_tls=server.tls, start_tls=True if server.starttls else False,
            timeout=server.timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:  # every recipient refused
        codes = [r.code for r in exc.recipients]
        words = "; ".join(f"{r.recipient}: {_words(r.code, r.message)}" for r in exc.recipients)
        if codes and all(400 <= c < 500 for c in codes):
            raise TransientError(f"recipients refused for now: {words}", reason="recipients_refused",
                                 words=words) from exc
        raise PermanentError(f"recipients refused: {words}", reason="recipients_refused", words=words) from exc
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise _refusal(exc.code, exc.message, "the SMTP server refused the mailbox's credentials",
                       "smtp_credentials_refused") from exc
    except aiosmtplib.SMTPSenderRefused as exc:
        raise _refusal(exc.code, exc.message, f"sender {exc.sender} refused", "sender_refused") from exc
    except aiosmtplib.SMTPConnectError as exc:  # connect timeouts too: nothing was handed over
        raise TransientError(f"SMTP server {server.host}:{server.port} unreachable: {one_line(str(exc))}",
                             reason="smtp_unreachable", server=f"{server.host}:{server.port}",
                             words=one_line(str(exc))) from exc
    except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected) as exc:
        # Perhaps while waiting for the answer to DATA: the server may have the mail. (Earlier in
        # the dialogue too; then the retry's look in the Sent folder finds nothing and sends.)
        raise OutcomeUnknown(f"SMTP server {server.host}:{server.port} did not answer: {one_line(str(exc))}") from exc
    except aiosmtplib.SMTPResponseException as exc:  # DATA, HELO, MAIL answered 4xx/5xx
        raise _refusal(exc.code, exc.message, "the SMTP server refused the mail", "mail_refused") from exc
    except ssl.SSLError as exc:
        raise TransientError(f"TLS with {server.host}:{server.port} failed: {one_line(str(exc))}", reason="tls_failed",
                             server=f"{server.host}:{server.port}", words=one_line(str(exc))) from exc
    except aiosmtplib.SMTPException as exc:  # STARTTLS not offered, and the like: a setting to fix
        raise PermanentError(f"SMTP with {server.host}:{server.port}: {one_line(str(exc))}", reason="smtp_failed",
                             server=f"{server.host}:{server.port}", words=one_line(str(exc))) from exc
    except OSError as exc:
        raise TransientError(f"SMTP server {server.host}:{server.port} unreachable: {exc}", reason="smtp_unreachable",
                             server=f"{server.host}:{server.port}", words=str(exc)) from exc
    return Accepted(one_line(response)[:500], {addr: _words(r.code, r.message) for addr, r in errors.items()})
