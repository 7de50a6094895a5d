"""The outbox: everything that leaves the hub is a row here first, written with the message
(DESIGN.md contract 5). Its writers (conversations' replies) and its reader (hub.delivery) both
import this package; it imports neither."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import UTCDateTime

# pending -> (claimed with a lease) -> sent | failed; a transient failure goes back to pending later.
OUTBOX_STATUSES = ("pending", "sent", "failed")
# `payload["kind"]` of a call request (hub.conversations.calls); other rows are messages.
CALL = "call"


class OutboxItem(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    message_id: int | None = Field(default=None, foreign_key="messages.id", index=True)
    conversation_id: int | None = Field(default=None)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_error: str | None = Field(default=None)
    provider_id: str | None = Field(default=None, max_length=200)
    # What the adapter sends the item under on every attempt (email: its Message-ID), stored by
    # the first claim, before the first attempt (hub.delivery.outbound).
    send_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
