"""Request bodies of the JSON API (responses are plain dicts from hub's schema helpers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from hub.contacts.emails import valid_email
from hub.errors import Invalid
from hub.ports import NUL_REFUSED, has_nul


class In(BaseModel):
    """A request body. No text in it may hold a NUL character: PostgreSQL refuses one, SQLite
    would store it, so both refuse it here, naming the field (422)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise PydanticCustomError("nul_character", NUL_REFUSED)
        return value


class LoginIn(In):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)


_CLIENT_ID = ("the console's id for this send (a UUID): a retry with the same id answers the first "
              "copy (200) instead of storing and sending it again (201)")


def _addresses(value: list[str]) -> list[str]:
    try:
        return list(dict.fromkeys(valid_email(v) for v in value))
    except Invalid as exc:
        raise PydanticCustomError("email", "{problem}", {"problem": exc.message, **exc.params}) from exc


# Addresses to copy on an email (validated: they become a header); other channels ignore them.
Copies = Annotated[list[Annotated[str, Field(max_length=320)]], AfterValidator(_addresses)]
# Files to send: ids (or URLs) of the caller's uploads (POST /api/v1/attachments).
Uploads = list[Annotated[int, Field(ge=1)] | Annotated[str, Field(max_length=200)]]


class ReplyIn(In):
    text: str = Field(min_length=1, max_length=50_000)
    html: str | None = Field(default=None, max_length=500_000)
    client_id: UUID | None = Field(default=None, description=_CLIENT_ID)
    attachments: Uploads = Field(
        default_factory=list, max_length=20,
        description="files to send with it: ids (or URLs) of the caller's uploads (POST /api/v1/attachments)")
    cc: Copies = Field(default_factory=list, max_length=20,
                       description="addresses to copy (email); other channels ignore them")


class NoteIn(In):
    text: str = Field(min_length=1, max_length=50_000)
    mentions: list[int] = Field(default_factory=list, description="agent ids to notify")
    client_id: UUID | None = Field(default=None, description=_CLIENT_ID)


class StatusIn(In):
    status: Literal["open", "pending", "snoozed", "resolved"]
    snoozed_until: AwareDatetime | None = Field(default=None, description="required when snoozing")


class AssignIn(In):
    assignee_id: int | None = None
    team_id: int | None = None
    note: str | None = Field(default=None, max_length=5000)


# Conversations an agent takes at once, per channel. Bounded: a number beyond 64 bits could not be
# written into the event that carries it (a 500), and a negative one made no sense to routing.
Capacities = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=32)], Annotated[int, Field(ge=0, le=1000)]],
    Field(max_length=32, description="channel -> conversations at once, 0 to 1000"),
]


class AgentIn(In):
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["agent", "supervisor", "admin"] = "agent"
    password: str = Field(min_length=8, max_length=1000)
    capacities: Capacities = Field(default_factory=dict)
    skills: list[str] = Field(default_factory=list)

    @field_validator("email", mode="after")
    @classmethod
    def _an_address(cls, value: str) -> str:
        try:
            return valid_email(value)
        except Invalid as exc:
            raise PydanticCustomError("email", "{problem}", {"problem": exc.message, **exc.params}) from exc


class AgentPatch(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Literal["agent", "supervisor", "admin"] | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    capacities: Capacities | None = None
    skills: list[str] | None = None


class PresenceIn(In):
    presence: Literal["online", "away", "offline"]


class TeamIn(In):
    name: str = Field(min_length=1, max_length=100)


class MemberIn(In):
    agent_id: int


class ApiKeyIn(In):
    name: str = Field(min_length=1, max_length=100)

