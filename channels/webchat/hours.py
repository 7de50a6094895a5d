"""A widget's business hours: when the web chat says it is open (issue 16: "outside business hours,
the widget says so, still takes the message and asks for an email address").

The same shape as a team's business hours (hub/routing/settings.py), so admins write one kind:
`{"timezone": "Europe/Madrid", "days": {"mon": ["09:00-14:00", "15:00-18:00"], ...}}`; a day left
out is closed; "24:00" ends a span at midnight. No hours at all: always open.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SPAN = re.compile(r"^(?P<a>(?:[01]\d|2[0-3]):[0-5]\d)-(?P<b>(?:[01]\d|2[0-3]):[0-5]\d|24:00)$")


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class OpeningHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"
    days: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, OSError, KeyError) as exc:
            raise ValueError(f"unknown time zone {value[:64]!r}") from exc
        return value

    @field_validator("days")
    @classmethod
    def _spans(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        clean: dict[str, list[str]] = {}
        for day, spans in value.items():
            if day not in WEEK:
                raise ValueError(f"days are {', '.join(WEEK)}, not {day[:20]!r}")
            clean[day] = [span.replace(" ", "") for span in spans]
            for span in clean[day]:
                found = SPAN.match(span)
                if found is None or _minutes(found["b"]) <= _minutes(found["a"]):
                    raise ValueError(f"a span is like 09:00-17:00 (24:00 for midnight), not {span[:20]!r}")
        return clean

    def open_at(self, moment: datetime | None = None) -> bool:
        """Whether `moment` (now by default) falls in an open span, in the widget's time zone."""
        local = (moment or datetime.now(UTC)).astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        for span in self.days.get(WEEK[local.weekday()], ()):
            start, end = span.split("-")
            if _minutes(start) <= minute < _minutes(end):
                return True
        return False
