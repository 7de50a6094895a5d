"""Business hours (hub/ports_parts/business_hours.py), as a team's queue and a web chat widget take
them: open in their spans, in their own time zone; nonsense refused when they are read."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from hub.ports import BusinessHours

MADRID = BusinessHours(timezone="Europe/Madrid", days={"mon": ["09:00-14:00", "15:00-24:00"], "sat": ["10:00-12:00"]})


@pytest.mark.parametrize(("utc", "is_open"), [
    (datetime(2026, 12, 7, 8, 0), True),     # Monday 09:00 in Madrid (UTC+1): opens
    (datetime(2026, 12, 7, 7, 59), False),   # 08:59
    (datetime(2026, 12, 7, 13, 30), False),  # 14:30: the lunch gap
    (datetime(2026, 12, 7, 22, 59), True),   # 23:59: open until midnight
    (datetime(2026, 12, 7, 23, 0), False),   # Tuesday 00:00: closed all day
    (datetime(2026, 7, 4, 8, 30), True),     # a Saturday in summer (UTC+2): 10:30
])
def test_open_in_its_spans_in_its_time_zone(utc: datetime, is_open: bool) -> None:
    assert MADRID.is_open_at(utc.replace(tzinfo=UTC)) is is_open


@pytest.mark.parametrize(("bad", "says"), [
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"days": {"someday": ["09:00-17:00"]}}, "days are mon, tue, wed, thu, fri, sat, sun, not 'someday'"),
    ({"days": {"mon": ["17:00-09:00"]}}, "business hours span '17:00-09:00' ends before it starts"),
    ({"days": {"mon": ["9-5"]}}, "a span is like 09:00-17:00 (24:00 for midnight), not '9-5'"),
])
def test_nonsense_is_refused_when_the_settings_are_read(bad: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        BusinessHours(**bad)


def test_day_names_may_be_written_out_and_spaces_around_the_dash_are_dropped() -> None:
    hours = BusinessHours(days={"Monday": ["09:00 - 17:00"]})
    assert hours.days == {"mon": ["09:00-17:00"]}
    assert hours.is_open_at(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))


def test_no_open_day_is_closed_all_week() -> None:
    closed = BusinessHours(timezone="Europe/Madrid")
    assert not closed.ever_open and not closed.is_open_at(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))


@pytest.mark.parametrize(("days", "says"), [
    ({"monkey": ["09:00-17:00"]}, "not 'monkey'"),
    ({"sunshine": ["09:00-17:00"]}, "not 'sunshine'"),
    # The same day twice would keep only the last one's spans, silently.
    ({"mon": ["09:00-12:00"], "Monday": ["13:00-17:00"]}, "'Monday' is mon again"),
])
def test_a_word_that_only_starts_like_a_day_or_a_day_given_twice_is_refused(days: dict[str, list[str]],
                                                                            says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        BusinessHours(days=days)
