"""How a catalogued event becomes a row: its id columns, its payload keys, its audience."""

from __future__ import annotations

import dataclasses

import pytest

from hub.events.types import CATALOGUE, MatchSuggested, PresenceChanged, RulesChanged, StatusChanged
from hub.events.types.base import TypedEvent, column, event


def test_a_field_is_payload_unless_a_column_and_a_trailing_underscore_is_dropped() -> None:
    e = PresenceChanged(agent_id=7, from_="offline", presence="online")
    assert e.ids() == (None, None, 7)
    assert e.payload() == {"agent_id": 7, "from": "offline", "presence": "online"}
    assert e.private is True


def test_a_column_only_field_stays_out_of_the_payload() -> None:
    e = MatchSuggested(timeline=1, contact_id=2, candidate_id=1, identities=[], reason="why")
    assert e.ids() == (None, 1, None)
    assert e.payload() == {"contact_id": 2, "candidate_id": 1, "identities": [], "reason": "why"}


def test_a_field_defaulting_to_none_is_left_out_when_none_and_kept_otherwise() -> None:
    reopened = StatusChanged(conversation_id=1, contact_id=2, from_="resolved", to="open", reason="customer_message",
                             conversation={})
    resolved = StatusChanged(conversation_id=1, contact_id=2, actor_agent_id=3, from_="open", to="resolved",
                             conversation={})
    assert list(reopened.payload()) == ["from", "to", "reason", "conversation"]
    assert list(resolved.payload()) == ["from", "to", "conversation"]
    assert resolved.private is False
    assert RulesChanged(actor_agent_id=1, deleted=5).payload() == {"deleted": 5}


def test_events_are_frozen_and_keyword_only() -> None:
    e = RulesChanged(actor_agent_id=1, deleted=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.deleted = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        RulesChanged(1, None, 5)  # type: ignore[misc]


def test_a_type_is_defined_once_and_ids_go_only_to_known_columns() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        event("presence.changed", "agents")(type("Again", (TypedEvent,), {"__annotations__": {"x": "int"}}))
    with pytest.raises(ValueError, match="no id column"):
        event("test.bad_column", "agents")(type("Bad", (TypedEvent,), {"__annotations__": {"x": "int"},
                                                                       "x": column("team_id")}))
    assert "test.bad_column" not in CATALOGUE
