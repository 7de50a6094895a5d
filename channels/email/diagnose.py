""""Test connection" for a mailbox's IMAP and SMTP servers: what is wrong, in plain words.

Each check returns a `Check`: whether it worked, a key of the words an admin reads
(`channels/email/i18n/<lang>.json`, "check.*"), the values those words name, and `detail`, the
server's or the system's own words (shown under ours, for whoever knows what they mean). Nothing
is sent and no message is read: IMAP logs in and selects the folder, SMTP says EHLO and logs in.
Passwords never appear in a `Check`.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field, replace
from typing import Any

import aiosmtplib

from channels.email import i18n
from channels.email.charsets import one_line
from channels.email.imap_client import (
    FolderMissing,
    ImapError,
    ImapSession,
    LoginRefused,
    NotImap,
    StartTlsMissing,
    TlsFailed,
    UnknownHost,
    Unreachable,
)
from channels.email.settings import ImapServer, SmtpServer

# An admin waits for the answer: a server that has not answered by then is reported as such.
CHECK_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Check:
    ok: bool
    key: str  # "check.ok.imap", "check.login_refused", ... (i18n)
    values: dict[str, Any] = field(default_factory=dict)
    detail: str = ""

    def text(self, lang: str) -> str:
        """The words for an admin, in `lang` (en when missing)."""
        return i18n.t(lang, self.key, **self.values)

    def as_dict(self, lang: str) -> dict[str, Any]:
        return {"ok": self.ok, "key": self.key, "text": self.text(lang), "detail": self.detail}


_IMAP_KEYS: tuple[tuple[type[ImapError], str], ...] = (
    (UnknownHost, "check.unknown_host"),
    (Unreachable, "check.unreachable"),
    (StartTlsMissing, "check.starttls_missing"),
    (TlsFailed, "check.tls_failed"),
    (LoginRefused, "check.login_refused"),
    (FolderMissing, "check.folder_missing"),
    (NotImap, "check.not_imap"),
)


async def check_imap(server: ImapServer) -> Check:
    """Connect, log in and open the folder the mailbox watches."""
    server = replace(server, timeout_seconds=min(server.timeout_seconds, CHECK_TIMEOUT_SECONDS))
    values: dict[str, Any] = {"host": server.host, "port": server.port, "user": server.username,
                              "folder": server.folder, "protocol": "IMAP"}
    session = ImapSession(server)
    try:
        await session.open()
        folder = await session.select(server.folder)
    except ImapError as exc:
        key = next((k for kind, k in _IMAP_KEYS if isinstance(exc, kind)), "check.failed")
        if isinstance(exc, TlsFailed) and "CERTIFICATE_VERIFY_FAILED" in exc.words:
            key = "check.tls_certificate"
        return Check(False, key, values | {"detail": exc.words}, exc.words)
    finally:
        await session.close()
    return Check(True, "check.ok.imap", values | {"count": folder.exists, "idle": session.idle})


async def check_smtp(server: SmtpServer) -> Check:
    """Connect (TLS or STARTTLS as set), say EHLO and log in when credentials are set."""
    values: dict[str, Any] = {"host": server.host, "port": server.port, "user": server.username or "",
                              "protocol": "SMTP"}
    client = aiosmtplib.SMTP(hostname=server.host, port=server.port, use_tls=server.tls,
                             start_tls=True if server.starttls else False,
                             timeout=min(server.timeout_seconds, CHECK_TIMEOUT_SECONDS))
    try:
        await client.connect()
        if server.username:
            await client.login(server.username, server.password or "")
    except Exception as exc:  # noqa: BLE001  (every failure is an answer here)
        key, detail = _smtp_failure(exc)
        return Check(False, key, values | {"detail": detail}, detail)
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except Exception:  # noqa: BLE001, S110  (the answer is already known)
                client.close()
    return Check(True, "check.ok.smtp", values)


def _smtp_failure(exc: BaseException) -> tuple[str, str]:
    causes = [exc]
    while causes[-1].__cause__ is not None and len(causes) < 5:
        causes.append(causes[-1].__cause__)
    detail = one_line(str(exc))[:500]
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "check.unknown_host", detail
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
        return "check.tls_certificate", detail
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return "check.tls_failed", detail
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return "check.login_refused", detail
    if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS" in str(exc).upper():
        return "check.starttls_missing", detail
    if isinstance(exc, aiosmtplib.SMTPException) and "AUTH" in str(exc).upper():
        return "check.auth_unsupported", detail
    if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError | aiosmtplib.SMTPTimeoutError | TimeoutError):
        return "check.unreachable", detail
    if isinstance(exc, aiosmtplib.SMTPConnectError | OSError):
        return "check.unreachable", detail
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectResponseError):
        return "check.not_smtp", detail
    return "check.failed", detail
