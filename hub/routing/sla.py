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
    """The moment `seconds` of business time after `start` (aware datetimes in, aware UTC out)."""
    if hours is None:
        return start + timedelta(seconds=seconds)
    if not hours.ever_open:
        raise ValueError("business hours have no open time")
    remaining = timedelta(seconds=seconds)
    cursor = start.astimezone(hours.tz)
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
