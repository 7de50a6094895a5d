"""Agents who passed on a conversation are left out of its routing, each for their own cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.conversations.models import Conversation
from hub.routing.actions import Router
from hub.routing.config import RoutingConfig
from hub.routing.offers import passed_on

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_each_pass_runs_its_own_cooldown() -> None:
    router = Router(RoutingConfig(pass_cooldown=timedelta(minutes=5)))
    conv = Conversation(contact_id=1, channel="webchat", source="site")
    passed_on(conv, 7, T0)
    passed_on(conv, 8, T0 + timedelta(minutes=4))
    excluded = router._excluded(conv.passed_agent_ids, conv.passed_at, T0 + timedelta(minutes=4, seconds=30))
    assert excluded == {7, 8}
    # Agent 8's later pass does not extend agent 7's cooldown.
    assert router._excluded(conv.passed_agent_ids, conv.passed_at, T0 + timedelta(minutes=6)) == {8}
    assert router._excluded(conv.passed_agent_ids, conv.passed_at, T0 + timedelta(minutes=10)) == set()
    passed_on(conv, 7, T0 + timedelta(minutes=6))  # passing again starts that agent's over
    assert router._excluded(conv.passed_agent_ids, conv.passed_at, T0 + timedelta(minutes=8)) == {7, 8}
