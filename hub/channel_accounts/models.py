"""Channel accounts admins keep in the hub (an email mailbox): channel-neutral rows whose
`settings` the channel reads, and whose secrets are stored encrypted (hub.channel_accounts.crypto)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import UTCDateTime


class StoredAccount(SQLModel, table=True):
    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("channel", "name", name="uq_channel_accounts_name"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    name: str = Field(max_length=200)  # unique within the channel: a mailbox's address
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Fernet token of the JSON {field: value} of its secrets; never logged nor served.
    secrets_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
