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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlmodel import Session, col

from hub.agents.models import Team
from hub.clock import utcnow
from hub.errors import Invalid, NotFound
from hub.events import log
from hub.events.types import TeamUpdated
from hub.ports import BusinessHours
from hub.routing.sla import add_business_seconds

logger = logging.getLogger(__name__)

# Ten years: past that a duration is a typo, and datetime arithmetic overflows not far beyond.
MAX_SECONDS = 10 * 365 * 24 * 3600
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False, strict=True,
                                 description="seconds, a positive number")]
_PRIORITY = re.compile(r"-?\d{1,4}")
# A JSON number, strictly: `true` is no team 1 (pydantic's lax mode would take it as 1).
TeamRef = Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)] | Annotated[str, Field(min_length=1, max_length=100)]


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


class TeamSettings(_Strict):
    offer_timeout_seconds: Seconds | None = Field(default=None, description="a chat must be accepted in time")
    escalate_after_seconds: Seconds | None = Field(default=None, description="then it moves on")
    overflow_team: TeamRef | None = Field(default=None, description="team to escalate to: its id or its name")
    overflow_skill: str | None = Field(default=None, min_length=1, max_length=64,
                                       description="or: any agent with this skill")
    sla: SlaSettings | None = Field(default=None, description="targets in seconds, per priority")
    business_hours: BusinessHours | None = None

    @field_validator("business_hours")
    @classmethod
    def _open_sometime(cls, value: BusinessHours | None) -> BusinessHours | None:
        if value is not None and not value.ever_open:  # an SLA clock would never run
            raise ValueError("business hours need at least one open span (leave them out for around the clock)")
        return value

    @model_validator(mode="after")
    def _targets_within_reach(self) -> TeamSettings:
        """A target the business hours could not count to would fail routing every conversation."""
        if self.sla is None or self.business_hours is None:
            return self
        now = utcnow()
        for level, targets in [("default", self.sla.default), *(self.sla.__pydantic_extra__ or {}).items()]:
            for name, seconds in (targets.model_dump(exclude_none=True) if targets is not None else {}).items():
                try:
                    add_business_seconds(now, seconds, self.business_hours)
                except ValueError:
                    raise ValueError(f"sla.{level}.{name}: {seconds:g} seconds of business time are beyond "
                                     "what these business hours reach") from None
        return self

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
