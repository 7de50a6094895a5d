"""Named reads and writes of channel accounts. `secrets` are write-only: a value replaces the
stored one, None keeps it, "" removes it; reads say only which are set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.channel_accounts.crypto import SecretBox, SecretsUnreadable
from hub.channel_accounts.models import StoredAccount
from hub.clock import utcnow
from hub.errors import Conflict, NotFound
from hub.ports import ChannelAccount


def list_accounts(session: Session, channel: str) -> list[StoredAccount]:
    return list(session.exec(select(StoredAccount).where(StoredAccount.channel == channel)
                             .order_by(col(StoredAccount.name))))


def get_account(session: Session, channel: str, account_id: int) -> StoredAccount:
    row = session.get(StoredAccount, account_id)
    if row is None or row.channel != channel:
        raise NotFound(f"no {channel} account {account_id}")
    return row


def secrets_set(row: StoredAccount, box: SecretBox) -> dict[str, bool]:
    """Which secrets an account holds (their names only)."""
    return dict.fromkeys(_opened(row, box), True)


def do_save_account(session: Session, box: SecretBox, *, channel: str, name: str, settings: dict[str, Any],
                    secrets: Mapping[str, str | None], account_id: int | None = None) -> StoredAccount:
    """Create (no `account_id`) or replace an account's settings; Conflict when `name` is taken."""
    row = get_account(session, channel, account_id) if account_id is not None \
        else StoredAccount(channel=channel, name=name)
    kept = _opened(row, box) if row.secrets_sealed else {}
    for field, value in secrets.items():
        if value is None:
            continue
        if value == "":
            kept.pop(field, None)
        else:
            kept[field] = value
    row.name, row.settings, row.updated_at = name, settings, utcnow()
    row.secrets_sealed = box.seal(kept) if kept else None
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a {channel} account named {name} exists already") from None
    return row


def do_delete_account(session: Session, channel: str, account_id: int) -> None:
    session.delete(get_account(session, channel, account_id))


def port_accounts(session: Session, channel: str, box: SecretBox) -> tuple[ChannelAccount, ...]:
    """The accounts as adapters get them: secrets opened (an unreadable one: no secrets)."""
    out = []
    for row in list_accounts(session, channel):
        assert row.id is not None
        out.append(ChannelAccount(row.id, row.channel, row.name, dict(row.settings), _opened(row, box)))
    return tuple(out)


def _opened(row: StoredAccount, box: SecretBox) -> dict[str, str]:
    if not row.secrets_sealed:
        return {}
    try:
        return box.open(row.secrets_sealed)
    except SecretsUnreadable:
        return {}
