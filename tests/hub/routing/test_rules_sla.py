"""Routing rules and SLA deadlines in business hours (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.routing.rules import Facts, first_match, rule_from_dict
from hub.routing.sla import add_business_seconds, parse_business_hours, targets_for

RULES = [
    rule_from_dict({"name": "vip", "team": "VIP", "priority": 10, "match": {"tier": ["vip"]}}),
    rule_from_dict({"name": "billing", "team": "Billing", "match": {"channel": ["email", "webchat"],
                                                                       "keywords": ["Invoice", "refund"]}}),
    rule_from_dict({"name": "spanish", "team": "ES", "match": {"language": "es"}}),
    rule_from_dict({"name": "shop number", "team": "Shop", "match": {"channel": "sms", "source": ["+15550001"]}}),
]


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {"channel": "email", "source": "support@x", "tier": "standard", "language": None}
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def test_first_matching_rule_wins() -> None:
    assert first_match(RULES, facts(tier="vip", text="invoice")).name == "vip"  # type: ignore[union-attr]
    assert first_match(RULES, facts(text="Where is my INVOICE?")).name == "billing"  # type: ignore[union-attr]
    assert first_match(RULES, facts(channel="sms", text="invoice")) is None
    assert first_match(RULES, facts(language="es")).name == "spanish"  # type: ignore[union-attr]
    assert first_match(RULES, facts(channel="sms", source="+15550001")).name == "shop number"  # type: ignore[union-attr]


PARIS = {"timezone": "Europe/Paris", "days": {"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-17:00"]}}


def test_business_time_skips_nights_lunch_and_closed_days() -> None:
    hours = parse_business_hours(PARIS)
    # Monday 11:30 Paris (10:30 UTC in January) + 1 hour of business time = 13:30 Paris (lunch skipped).
    start = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    assert add_business_seconds(start, 3600, hours) == datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
    # Monday 16:30 Paris + 1 hour = Tuesday 09:30 Paris.
    start = datetime(2026, 1, 5, 15, 30, tzinfo=UTC)
    assert add_business_seconds(start, 3600, hours) == datetime(2026, 1, 6, 8, 30, tzinfo=UTC)
    # Tuesday 16:00 + 2 hours: nothing until next Monday 09:00, so Monday 10:00 Paris.
    start = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
    assert add_business_seconds(start, 7200, hours) == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def test_no_business_hours_means_around_the_clock() -> None:
    start = datetime(2026, 1, 3, 23, 0, tzinfo=UTC)
    assert add_business_seconds(start, 7200, None) == start + timedelta(hours=2)


def test_bad_business_hours_are_refused() -> None:
    with pytest.raises(ValueError):
        parse_business_hours({"days": {"mon": ["17:00-09:00"]}})


def test_sla_targets_by_priority() -> None:
    sla = {"default": {"first_response": 3600, "resolution": 86400}, "10": {"first_response": 600}}
    assert targets_for(sla, 0) == {"first_response": 3600.0, "resolution": 86400.0}
    assert targets_for(sla, 15) == {"first_response": 600.0, "resolution": 86400.0}
    assert targets_for(None, 5) == {}


def test_business_time_of_many_weeks_lands_where_walking_every_day_would() -> None:
    # Paris's hours are 15 a week: ten weeks and one hour after Monday 11:30 is Monday 13:30 ten
    # weeks later (lunch skipped), still in winter time.
    start = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    assert add_business_seconds(start, 10 * 15 * 3600 + 3600, parse_business_hours(PARIS)) == \
        datetime(2026, 3, 16, 12, 30, tzinfo=UTC)
    # Overlapping spans count once: 3 hours each Monday, so 15 hours end on the fifth Monday at noon.
    overlapping = parse_business_hours({"timezone": "Europe/Paris", "days": {"mon": ["09:00-12:00", "10:00-11:00"]}})
    assert add_business_seconds(datetime(2026, 1, 5, 8, 0, tzinfo=UTC), 15 * 3600, overlapping) == \
        datetime(2026, 2, 2, 11, 0, tzinfo=UTC)
    # Half a year in 40-hour weeks (beyond the two years a walk day by day used to give up at):
    # 108 weeks, from a Monday's opening to a Friday's closing.
    office = parse_business_hours({"days": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})
    assert add_business_seconds(datetime(2026, 1, 5, 9, 0, tzinfo=UTC), 180 * 86400, office) == \
        datetime(2026, 1, 5, 17, 0, tzinfo=UTC) + timedelta(weeks=107, days=4)
