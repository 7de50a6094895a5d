"""Routing rules: match an incoming conversation to a team, a priority and optionally a skill.

A rule matches when every condition it names matches (lists mean "any of"); keywords are looked
for, case-insensitively, in the subject and first message. The first matching rule wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    name: str
    team: str | None = None  # team name (or, when no team has that name, a number as text: its id) ...
    team_id: int | None = None  # ... or id
    priority: int = 0
    skill: str | None = None
    channel: tuple[str, ...] = ()
    tier: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    """What a rule can look at."""

    channel: str
    source: str
    tier: str
    language: str | None
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """A rule from config or the database; `team` names a team or gives its id (a number)."""
    match = data.get("match", data)
    team = data.get("team")
    return Rule(
        name=str(data.get("name") or "rule"),
        team=team if isinstance(team, str) else None,
        team_id=team if isinstance(team, int) and not isinstance(team, bool) else data.get("team_id"),
        priority=int(data.get("priority", 0)),
        skill=data.get("skill"),
        channel=_tuple(match.get("channel")),
        tier=_tuple(match.get("tier")),
        language=_tuple(match.get("language")),
        source=_tuple(match.get("source")),
        keywords=tuple(k.lower() for k in _tuple(match.get("keywords"))),
    )


def matches(rule: Rule, facts: Facts) -> bool:
    if rule.channel and facts.channel not in rule.channel:
        return False
    if rule.tier and facts.tier not in rule.tier:
        return False
    # "es" matches es-MX too (its primary language).
    if rule.language and (facts.language or "") not in rule.language and (
            (facts.language or "").split("-")[0] not in rule.language):
        return False
    if rule.source and facts.source not in rule.source:
        return False
    if rule.keywords:
        text = facts.text.lower()
        if not any(k in text for k in rule.keywords):
            return False
    return True


def first_match(rules: Sequence[Rule], facts: Facts) -> Rule | None:
    return next((r for r in rules if matches(r, facts)), None)
