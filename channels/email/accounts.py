"""Mailboxes admins keep in the hub (`hub.ports.ChannelAccount`), as the channel's `Mailbox`.

An account's `settings` have the shape of a mailbox in config/hub.toml's `[[email.mailboxes]]`
(address, display_name, signature, language, subject_token, authserv_id, smtp {...}, imap {...} or
absent);
its `secrets` hold `smtp_password` and `imap_password`.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from channels.email.settings import ImapServer, Mailbox, SmtpServer
from hub.ports import ChannelAccount

SECRET_FIELDS = ("smtp_password", "imap_password")


def mailbox_of(account: ChannelAccount, *, max_bytes: int | None = None) -> Mailbox:
    s = account.settings
    smtp: dict[str, Any] = dict(s.get("smtp") or {})
    imap: dict[str, Any] | None = dict(s["imap"]) if s.get("imap") else None
    smtp_server = SmtpServer(**_known(smtp, SmtpServer), password=account.secrets.get("smtp_password") or None)
    imap_server = None
    if imap is not None:
        imap_server = ImapServer(**_known(imap, ImapServer), password=account.secrets.get("imap_password", ""))
        if max_bytes is not None:
            imap_server = replace(imap_server, max_bytes=max_bytes)
    return Mailbox(address=account.name.lower(), display_name=str(s.get("display_name") or ""),
                   signature=str(s.get("signature") or ""), language=str(s.get("language") or "en"),
                   subject_token=bool(s.get("subject_token", True)), smtp=smtp_server, imap=imap_server,
                   authserv_id=str(s.get("authserv_id") or ""))


def _known(values: dict[str, Any], kind: type[SmtpServer] | type[ImapServer]) -> dict[str, Any]:
    """The fields `kind` has, passwords aside (they come from the secrets)."""
    names = {f.name for f in fields(kind)} - {"password"}
    return {k: v for k, v in values.items() if k in names and v is not None}
