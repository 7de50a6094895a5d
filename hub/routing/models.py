"""Routing rules stored in the database (managed through the API); rules from config come first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import UTCDateTime


class RoutingRule(SQLModel, table=True):
    __tablename__ = "routing_rules"

    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(default=0, index=True)
    name: str = Field(max_length=100)
    # {"channel": [...], "tier": [...], "language": [...], "source": [...], "keywords": [...]}
    match: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    team_id: int | None = Field(default=None, foreign_key="teams.id")
    priority: int = Field(default=0)
    skill: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
