"""Agents, teams (which are also queues), API keys and login tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import UTCDateTime

ROLES = ("agent", "supervisor", "admin")
PRESENCES = ("online", "away", "offline")


class Agent(SQLModel, table=True):
    __tablename__ = "agents"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(max_length=200)
    role: str = Field(default="agent", max_length=16)
    password_hash: str = Field(max_length=200)
    active: bool = Field(default=True)
    presence: str = Field(default="offline", max_length=16)
    presence_changed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # Capacity per channel, e.g. {"webchat": 3, "sms": 5, "email": 10, "voice": 1}; missing = default.
    capacities: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # When the agent last received work: the longest-idle agent is offered first.
    last_assigned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Console heartbeat: an agent whose console went quiet for longer than the grace period is
    # set offline and their chats are offered to others.
    console_connected: bool = Field(default=False)
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Team(SQLModel, table=True):
    __tablename__ = "teams"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_members"

    team_id: int = Field(foreign_key="teams.id", primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", primary_key=True, index=True)


class ApiKey(SQLModel, table=True):
    """An integrator's key. Only a SHA-256 of the key is stored: keys are long random strings,
    so a fast hash is safe here, unlike passwords."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_by: int | None = Field(default=None, foreign_key="agents.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class AuthToken(SQLModel, table=True):
    """A login session: the same random token serves as cookie and as bearer token (hashed here)."""

    __tablename__ = "auth_tokens"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
