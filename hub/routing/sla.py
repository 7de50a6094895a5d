"""SLA deadlines counted in a team's business hours (pure functions; the hours: hub.ports.BusinessHours).

Team settings (checked by hub/routing/settings.py), e.g.:
    {"business_hours": {"timezone": "Europe/Paris",
                        "days": {"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-17:00"]}},
     "sla": {"default": {"first_response": 3600, "next_response": 7200, "resolution": 86400},
             "10": {"first_response": 600},
             "warn_before": 300}}
No business_hours means around the clock; "24:00" ends a span at midnight. SLA keys are priorities
(the highest key not above the conversation's priority applies; "default" otherwise).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from hub.ports import BusinessHours

TARGETS = ("first_response", "next_response", "resolution")


def parse_business_hours(data: dict[str, Any] | None) -> BusinessHours | None:
    """The hours in a team's settings (ValueError if they are not hours), or None: around the clock."""
    return BusinessHours.model_validate(data) if data else None


def add_business_seconds(start: datetime, seconds: float, hours: BusinessHours | None) -> datetime:
    """The moment `seconds` of business time after `start` (aware datetimes in, aware UTC out);
    ValueError for a moment beyond what a datetime holds."""
    if hours is None:
        return start + timedelta(seconds=seconds)
    if not hours.ever_open:
        raise ValueError("business hours have no open time")
    remaining = timedelta(seconds=seconds)
    cursor = start.astimezone(hours.tz)
    try:
        # Any seven days hold the same open time (counted in local clock time, as the walk below
        # counts it): whole weeks are skipped, so a target of months in office hours is reached
        # (a walk of two years was not enough for half a year of 40-hour weeks).
        week = _open_per_week(hours)
        if remaining > 2 * week:
            weeks = remaining // week - 1
            cursor += timedelta(weeks=weeks)
            remaining -= weeks * week
        return _walk(start, cursor, remaining, hours)
    except OverflowError:
        raise ValueError("SLA target too far in business time") from None


def _walk(start: datetime, cursor: datetime, remaining: timedelta, hours: BusinessHours) -> datetime:
    for _ in range(366 * 2):
        day = cursor.date()
        for open_t, close_t in hours.windows.get(day.weekday(), ()):
            w_start = datetime.combine(day, open_t, hours.tz)
            w_end = datetime.combine(day + timedelta(days=1), time(0), hours.tz) if close_t == time.max \
                else datetime.combine(day, close_t, hours.tz)
            if w_end <= cursor:
                continue
            begin = max(cursor, w_start)
            available = w_end - begin
            if remaining <= available:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= available
            cursor = w_end
        cursor = datetime.combine(day + timedelta(days=1), time(0), hours.tz)
    raise ValueError("SLA target too far in business time")


def _open_per_week(hours: BusinessHours) -> timedelta:
    """The open time of a week, overlapping spans counted once."""
    total = 0
    for spans in hours.windows.values():
        reached = 0  # seconds into the day the spans so far cover
        for open_t, close_t in spans:  # sorted by their start
            begin, end = max(_second_of_day(open_t), reached), _second_of_day(close_t)
            total += max(end - begin, 0)
            reached = max(reached, end)
    return timedelta(seconds=total)


def _second_of_day(t: time) -> int:
    return 86400 if t == time.max else t.hour * 3600 + t.minute * 60 + t.second


def targets_for(sla: dict[str, Any] | None, priority: int) -> dict[str, float]:
    """Seconds per target for this priority: the 'default' block overlaid by the best priority block."""
    if not sla:
        return {}
    out = {k: float(v) for k, v in (sla.get("default") or {}).items() if k in TARGETS}
    levels = sorted(int(k) for k in sla if k.lstrip("-").isdigit() and int(k) <= priority)
    if levels:
        out.update({k: float(v) for k, v in sla[str(levels[-1])].items() if k in TARGETS})
    return out


def warn_before(sla: dict[str, Any] | None) -> timedelta:
    return timedelta(seconds=float((sla or {}).get("warn_before", 300)))
