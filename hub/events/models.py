"""The event log: the customer's timeline and the feed agents' consoles replay from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import BigId, UTCDateTime


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_conversation", "conversation_id", "id"),
        Index("ix_events_contact", "contact_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    type: str = Field(max_length=64)
    conversation_id: int | None = Field(default=None)
    contact_id: int | None = Field(default=None)
    actor_agent_id: int | None = Field(default=None)
    # Agent-only events (internal notes and the like) never reach a customer-facing socket.
    private: bool = Field(default=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
