"""Provider status callbacks that arrive before their message is known (the outbox: hub.outbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import UTCDateTime


class DeliveryReceipt(SQLModel, table=True):
    """A provider status callback that arrived before we knew the message it is about.

    Matched and applied when the provider id is recorded on a message.
    """

    __tablename__ = "delivery_receipts"
    __table_args__ = (Index("ix_receipts_provider", "channel", "provider_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    provider_id: str = Field(max_length=200)
    status: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
