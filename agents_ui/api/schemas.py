"""Request bodies of the JSON API (responses are plain dicts from hub's schema helpers)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field


class LoginIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)


_CLIENT_ID = ("the console's id for this send (a UUID): a retry with the same id answers the first "
              "copy (200) instead of storing and sending it again (201)")


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=50_000)
    html: str | None = Field(default=None, max_length=500_000)
    client_id: UUID | None = Field(default=None, description=_CLIENT_ID)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=50_000)
    mentions: list[int] = Field(default_factory=list, description="agent ids to notify")
    client_id: UUID | None = Field(default=None, description=_CLIENT_ID)


class StatusIn(BaseModel):
    status: Literal["open", "pending", "snoozed", "resolved"]
    snoozed_until: AwareDatetime | None = Field(default=None, description="required when snoozing")


class AssignIn(BaseModel):
    assignee_id: int | None = None
    team_id: int | None = None
    note: str | None = Field(default=None, max_length=5000)


class AgentIn(BaseModel):
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["agent", "supervisor", "admin"] = "agent"
    password: str = Field(min_length=8, max_length=1000)
    capacities: dict[str, int] = Field(default_factory=dict)
    skills: list[str] = Field(default_factory=list)


class AgentPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Literal["agent", "supervisor", "admin"] | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    capacities: dict[str, int] | None = None
    skills: list[str] | None = None


class PresenceIn(BaseModel):
    presence: Literal["online", "away", "offline"]


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class MemberIn(BaseModel):
    agent_id: int


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)

