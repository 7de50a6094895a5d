"""A widget's business hours (channels/webchat/hours.py): open in its spans, in its own time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from channels.webchat.hours import OpeningHours

MADRID = OpeningHours(timezone="Europe/Madrid", days={"mon": ["09:00-14:00", "15:00-24:00"], "sat": ["10:00-12:00"]})


@pytest.mark.parametrize(("utc", "is_open"), [
    (datetime(2026, 12, 7, 8, 0), True),     # Monday 09:00 in Madrid (UTC+1): opens
    (datetime(2026, 12, 7, 7, 59), False),   # 08:59
    (datetime(2026, 12, 7, 13, 30), False),  # 14:30: the lunch gap
    (datetime(2026, 12, 7, 22, 59), True),   # 23:59: open until midnight
    (datetime(2026, 12, 7, 23, 0), False),   # Tuesday 00:00: closed all day
    (datetime(2026, 7, 4, 8, 30), True),     # a Saturday in summer (UTC+2): 10:30
])
def test_open_in_its_spans_in_its_time_zone(utc: datetime, is_open: bool) -> None:
    assert MADRID.open_at(utc.replace(tzinfo=UTC)) is is_open


@pytest.mark.parametrize("bad", [{"timezone": "Mars/Olympus"}, {"days": {"monday": ["09:00-17:00"]}},
                                 {"days": {"mon": ["17:00-09:00"]}}, {"days": {"mon": ["9-5"]}}])
def test_nonsense_is_refused_when_the_settings_are_read(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OpeningHours(**bad)  # type: ignore[arg-type]
