"""Email mailboxes admins keep in the hub (the console's settings page): stored as the email
channel's accounts (hub/channel_accounts), passwords write-only (sealed at rest, never answered:
`password_set` says whether one is kept). After a change the running channel takes it up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field, field_validator

from agents_ui.api.schemas import In
from agents_ui.deps import Caller, get_hub, require_admin
from hub.channel_accounts import actions
from hub.channel_accounts.models import StoredAccount
from hub.contacts.emails import valid_email
from hub.errors import Conflict
from hub.ports import ChannelAccount
from hub.runtime import Hub

CHANNEL = "email"
router = APIRouter(prefix="/api/v1/admin/mailboxes", tags=["channels"])
Security = Literal["tls", "starttls", "none"]
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")


class ServerIn(In):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(gt=0, lt=65536)
    security: Security = Field(description="tls: implicit TLS (465, 993); starttls: upgraded (587, 143); none: plain")
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=1000, description="write-only: omitted or null keeps "
                                 "the stored one, \"\" removes it")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not set(value) <= _HOST_CHARS:
            raise ValueError("a host name or IP address")
        return value


class ImapIn(ServerIn):
    username: str = Field(min_length=1, max_length=320)
    folder: str = Field(default="INBOX", min_length=1, max_length=200)
    sent_folder: str = Field(default="Sent", min_length=1, max_length=200,
                             description="sent mail's folder when none is flagged \\Sent (RFC 6154)")
    append_sent: bool = Field(default=False, description="file a copy of each reply in the Sent folder "
                              "(for servers that do not do it themselves, as Gmail and Microsoft 365 do)")


class MailboxIn(In):
    address: str = Field(max_length=320)
    display_name: str = Field(default="", max_length=200)
    signature: str = Field(default="", max_length=4000)
    language: Literal["en", "es"] = "en"
    subject_token: bool = True
    authserv_id: str = Field(default="", max_length=253, description="the receiving server whose "
                             "Authentication-Results (RFC 8601) are trusted, e.g. mx.google.com; empty: From is not "
                             "checked")
    smtp: ServerIn
    imap: ImapIn | None = Field(default=None, description="null: mail arrives through the hub's SMTP listener")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return valid_email(value)

    @field_validator("authserv_id")
    @classmethod
    def _authserv_id(cls, value: str) -> str:
        value = value.strip()
        if not set(value) <= _HOST_CHARS:
            raise ValueError("a host name, as the server writes it in Authentication-Results")
        return value

    @field_validator("display_name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n"):
            raise ValueError("one line")
        return value


def _server(s: ServerIn) -> dict[str, Any]:
    out = {"host": s.host, "port": s.port, "tls": s.security == "tls", "starttls": s.security == "starttls",
           "username": s.username or None}
    if isinstance(s, ImapIn):
        out.update(folder=s.folder, sent_folder=s.sent_folder, append_sent=s.append_sent)
    return out


def _settings(body: MailboxIn) -> dict[str, Any]:
    return {"display_name": body.display_name, "signature": body.signature, "language": body.language,
            "subject_token": body.subject_token, "authserv_id": body.authserv_id.strip(), "smtp": _server(body.smtp),
            "imap": _server(body.imap) if body.imap else None}


def _secrets(body: MailboxIn) -> dict[str, str | None]:
    # Removing the IMAP server forgets its password too.
    return {"smtp_password": body.smtp.password, "imap_password": body.imap.password if body.imap else ""}


def _server_out(stored: dict[str, Any] | None, password_set: bool) -> dict[str, Any] | None:
    if not stored:
        return None
    security = "tls" if stored.get("tls") else "starttls" if stored.get("starttls") else "none"
    out = {"host": stored.get("host"), "port": stored.get("port"), "security": security,
           "username": stored.get("username"), "password_set": password_set}
    if "folder" in stored:
        out.update(folder=stored["folder"], sent_folder=stored.get("sent_folder", "Sent"),
                   append_sent=bool(stored.get("append_sent", False)))
    return out


def mailbox_out(row: StoredAccount, secrets_set: dict[str, bool]) -> dict[str, Any]:
    s = row.settings
    return {"id": row.id, "address": row.name, "display_name": s.get("display_name", ""),
            "signature": s.get("signature", ""), "language": s.get("language", "en"),
            "subject_token": s.get("subject_token", True), "authserv_id": s.get("authserv_id", ""),
            "smtp": _server_out(s.get("smtp"), secrets_set.get("smtp_password", False)),
            "imap": _server_out(s.get("imap"), secrets_set.get("imap_password", False))}


async def _changed(request: Request) -> None:
    """The running channel takes the change up (this process; others within a minute)."""
    changed: Callable[[str], Awaitable[None]] = request.app.state.accounts_changed
    await changed(CHANNEL)


@router.get("", summary="The mailboxes stored in the hub (passwords never shown)")
def list_mailboxes(_: Caller = Depends(require_admin), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    box = hub.secret_box
    with hub.db.read() as s:
        return {"items": [mailbox_out(r, actions.secrets_set(r, box)) for r in actions.list_accounts(s, CHANNEL)]}


def _save(hub: Hub, body: MailboxIn, mailbox_id: int | None) -> dict[str, Any]:
    box = hub.secret_box
    with hub.db.write() as s:
        row = actions.do_save_account(s, box, channel=CHANNEL, name=body.address, settings=_settings(body),
                                      secrets=_secrets(body), account_id=mailbox_id)
        return mailbox_out(row, actions.secrets_set(row, box))


@router.post("", status_code=201, summary="Add a mailbox (admins)")
async def add_mailbox(body: MailboxIn, request: Request, _: Caller = Depends(require_admin),
                      hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    out = await asyncio.to_thread(_save, hub, body, None)
    await _changed(request)
    return out


@router.put("/{mailbox_id}", summary="Change a mailbox (admins); passwords left out are kept")
async def change_mailbox(mailbox_id: int, body: MailboxIn, request: Request, _: Caller = Depends(require_admin),
                         hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    out = await asyncio.to_thread(_save, hub, body, mailbox_id)
    await _changed(request)
    return out


@router.delete("/{mailbox_id}", status_code=204, summary="Remove a mailbox (admins)")
async def remove_mailbox(mailbox_id: int, request: Request, _: Caller = Depends(require_admin),
                         hub: Hub = Depends(get_hub)) -> Response:
    def delete() -> None:
        with hub.db.write() as s:
            actions.do_delete_account(s, CHANNEL, mailbox_id)
    await asyncio.to_thread(delete)
    await _changed(request)
    return Response(status_code=204)


@router.post("/{mailbox_id}/check", summary="Test a mailbox's SMTP and IMAP servers (admins): what is wrong, "
             "in plain words")
async def check_mailbox(mailbox_id: int, lang: Literal["en", "es"] = Query("en"), _: Caller = Depends(require_admin),
                        hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    accounts: tuple[ChannelAccount, ...] = await hub.channel_accounts_async(CHANNEL)
    account = next((a for a in accounts if a.id == mailbox_id), None)
    if account is None:
        with hub.db.read() as s:
            actions.get_account(s, CHANNEL, mailbox_id)  # 404
    adapter = hub.adapters.get(CHANNEL)
    if adapter is None or account is None:
        raise Conflict("the email channel is not running in this process")
    checks = await adapter.check_account(account, lang)
    return {"items": [{"ok": c.ok, "key": c.key, "text": c.text, "detail": c.detail} for c in checks]}
