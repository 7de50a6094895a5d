"""Channel accounts admins keep in the hub (an email mailbox: `ChannelAccount`), and what a
"test connection" finds (`AccountCheck`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChannelAccount:
    """An account of a channel that admins keep in the hub from the console (an email mailbox):
    `name` is unique within the channel (a mailbox's address); `settings` as the channel's admin
    form stored them; `secrets` (passwords), decrypted for the adapter: encrypted at rest, never
    logged (hidden from repr), never returned by the API."""

    id: int
    channel: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class AccountCheck:
    """One finding of `ChannelAdapter.check_account` ("test connection"), in an admin's words."""

    ok: bool
    key: str  # what was found, as a stable key ("check.login_refused")
    text: str  # the words for the admin, in the language asked for
    detail: str = ""  # the server's own words
