"""A team's queue settings, typed: what `PUT /api/v1/teams/{id}/settings` accepts and what routing
reads back.

Settings are checked when they are set (`TeamSettings`, `do_set_team_settings`), so a team's
settings can no longer make its inbound messages or the routing tick fail. Settings stored before
that check, or written around it, are read through `stored_settings`: whatever does not pass is
logged and left out (the team then runs with the defaults), never raised into routing.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlmodel import Session, col

from hub.agents.models import Team
from hub.errors import Invalid, NotFound
from hub.events import log
from hub.events.types import TeamUpdated
from hub.routing import sla

logger = logging.getLogger(__name__)

# Ten years: past that a duration is a typo, and datetime arithmetic overflows not far beyond.
MAX_SECONDS = 10 * 365 * 24 * 3600
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False, strict=True,
                                 description="seconds, a positive number")]
_PRIORITY = re.compile(r"-?\d{1,4}")
_SPAN = re.compile(r"([01]\d|2[0-3]):[0-5]\d\s*-\s*(([01]\d|2[0-3]):[0-5]\d|24:00)")
TeamRef = Annotated[int, Field(ge=1, le=2**63 - 1)] | Annotated[str, Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlaTargets(_Strict):
    first_response: Seconds | None = None
    next_response: Seconds | None = None
    resolution: Seconds | None = None


class SlaSettings(BaseModel):
    """`default` targets, targets per priority (keys such as "10": the highest key not above a
    conversation's priority applies), and `warn_before` a breach."""

    model_config = ConfigDict(extra="allow")
    default: SlaTargets | None = None
    warn_before: Seconds | None = None

    @model_validator(mode="after")
    def _priorities(self) -> SlaSettings:
        extra = self.__pydantic_extra__ or {}
        for key, value in extra.items():
            if not _PRIORITY.fullmatch(key):
                raise ValueError(f"SLA keys are 'default', 'warn_before' or a priority such as '10', not {key[:40]!r}")
            try:
                extra[key] = SlaTargets.model_validate(value)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"priority {key}: {problems}") from None
        return self


class BusinessHours(_Strict):
    """Open hours per day, e.g. {"timezone": "Europe/Paris", "days": {"mon": ["09:00-12:00"]}}."""

    timezone: str = Field(default="UTC", max_length=64)
    days: dict[str, Annotated[list[Annotated[str, Field(max_length=20)]], Field(max_length=24)]] = Field(
        default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, OSError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value[:64]!r}") from exc
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for day, spans in value.items():
            key = day.strip().lower()[:3]
            if key not in sla.DAYS or not day.strip().lower().startswith(key):
                raise ValueError(f"days are {', '.join(sla.DAYS)}, not {day[:20]!r}")
            out[key] = [s.strip() for s in spans]
            for span in out[key]:
                if not _SPAN.fullmatch(span):
                    raise ValueError(f"a span is like 09:00-17:00 (24:00 for midnight), not {span!r}")
        return out

    @model_validator(mode="after")
    def _windows(self) -> BusinessHours:
        try:
            hours = sla.parse_business_hours(self.model_dump())
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        if hours is not None and not any(hours.windows.values()):
            raise ValueError("business hours need at least one open span (leave them out for around the clock)")
        return self


class TeamSettings(_Strict):
    offer_timeout_seconds: Seconds | None = Field(default=None, description="a chat must be accepted in time")
    escalate_after_seconds: Seconds | None = Field(default=None, description="then it moves on")
    overflow_team: TeamRef | None = Field(default=None, description="team to escalate to: its id or its name")
    overflow_skill: str | None = Field(default=None, min_length=1, max_length=64,
                                       description="or: any agent with this skill")
    sla: SlaSettings | None = Field(default=None, description="targets in seconds, per priority")
    business_hours: BusinessHours | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def find_team(session: Session, ref: int | str) -> Team | None:
    """A team by id (a number) or by name (text; text of digits that names no team: as an id)."""
    if isinstance(ref, str):
        team = session.execute(select(Team).where(col(Team.name) == ref)).scalar_one_or_none()
        if team is not None or not ref.isdigit() or len(ref) > 18:
            return team
        ref = int(ref)
    return session.get(Team, ref)


def do_set_team_settings(session: Session, team_id: int, settings: TeamSettings, *,
                         actor_agent_id: int | None) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist")
    if settings.overflow_team is not None:
        target = find_team(session, settings.overflow_team)
        if target is None:
            raise Invalid(f"overflow_team: no team {settings.overflow_team!r}")
        if target.id == team.id:
            raise Invalid("overflow_team: a team cannot overflow into itself")
    team.settings = settings.stored()
    log.append(session, TeamUpdated(actor_agent_id=actor_agent_id, team_id=team_id, settings=team.settings))
    return team


def stored_settings(team_id: int | None, raw: dict[str, Any] | None) -> dict[str, Any]:
    """A team's stored settings as routing may use them: checked, or {} with a warning."""
    if not raw:
        return {}
    try:
        return TeamSettings.model_validate(raw).stored()
    except ValidationError as exc:
        logger.warning("team %s has settings routing cannot use; it runs with the defaults until they "
                       "are set again: %s", team_id, exc.errors(include_url=False, include_input=False))
        return {}
