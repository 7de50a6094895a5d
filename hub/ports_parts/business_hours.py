"""Business hours: one shape for a team's queue (SLA clocks count only open time, hub/routing) and
for a channel that says when it is open (web chat's "we are closed"), so admins write one kind:

    {"timezone": "Europe/Madrid", "days": {"mon": ["09:00-14:00", "15:00-18:00"], "tue": ["09:00-18:00"]}}

A day left out is closed; day names may be written out ("monday" is kept as "mon"); "24:00" ends a
span at midnight. Whether no open day at all is allowed is the user's to decide (a widget may be
closed all week; a team's SLA clock needs open time).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A day as admins may write it: short or written out, in any case.
_DAY_NAMES = {**{d: d for d in DAYS}, **{name: name[:3] for name in (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}}
_SPAN = re.compile(r"([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)")
# weekday (0 = Monday) -> sorted (start, end) local times; "24:00" is time.max
Windows = dict[int, tuple[tuple[time, time], ...]]


def _clock(text: str) -> time:
    """"09:30" as a time; "24:00" (the end of a day) as the last moment of the day."""
    return time.max if text == "24:00" else time.fromisoformat(text)


def _span(text: str) -> tuple[time, time]:
    start, end = text.split("-")
    return _clock(start), _clock(end)


class BusinessHours(BaseModel):
    """Open spans per day in a time zone, checked when built (ValueError otherwise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
            key = _DAY_NAMES.get(day.strip().lower())
            if key is None:
                raise ValueError(f"days are {', '.join(DAYS)}, not {day[:20]!r}")
            if key in out:  # its spans would replace the first one's
                raise ValueError(f"{day[:20]!r} is {key} again: give each day once")
            out[key] = [s.replace(" ", "") for s in spans]
            for span in out[key]:
                if not _SPAN.fullmatch(span):
                    raise ValueError(f"a span is like 09:00-17:00 (24:00 for midnight), not {span!r}")
                start, end = _span(span)
                if end <= start:
                    raise ValueError(f"business hours span {span!r} ends before it starts")
        return out

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def windows(self) -> Windows:
        return {DAYS.index(day): tuple(sorted(_span(s) for s in spans)) for day, spans in self.days.items()}

    @property
    def ever_open(self) -> bool:
        return any(self.windows.values())

    def is_open_at(self, moment: datetime | None = None) -> bool:
        """Whether `moment` (now by default) falls in an open span, in these hours' time zone."""
        local = (moment or datetime.now(UTC)).astimezone(self.tz)
        at = local.time().replace(tzinfo=None)
        return any(start <= at < end for start, end in self.windows.get(local.weekday(), ()))
