"""Status changes on conversations (`do_set_status`), on SQLite and PostgreSQL.

Pending, snoozed and resolved are written as one plain statement with their event (no ORM flush);
reopening goes through the ORM (it may route). What a user notices is checked: the row as read back
afresh, the `conversation.status_changed` event consoles get (its conversation as the row is), the
order of events, and that a resolve frees the agent's slot for routing.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from hub.clock import utcnow
from hub.conversations import actions
from hub.conversations.models import Conversation
from hub.conversations.schemas import conversation_dict
from hub.conversations.status_change import change_status
from hub.db import Database
from hub.errors import Forbidden, NotFound
from hub.events.models import Event
from hub.runtime import Hub
from tests.factories import api_message

_seq = itertools.count(1)


def _conversation(hub: Hub) -> int:
    return hub.ingest(api_message(f"status-{next(_seq)}", f"status{next(_seq)}@example.com")).conversation_id


def _read(db: Database, conversation_id: int) -> Conversation:
    with db.read() as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        return conv


def _status_events(db: Database, conversation_id: int) -> list[Event]:
    with db.read() as s:
        return list(s.execute(select(Event).where(Event.conversation_id == conversation_id,  # type: ignore[arg-type]
                                                  Event.type == "conversation.status_changed")
                              .order_by(Event.id)).scalars())  # type: ignore[arg-type]


@pytest.mark.parametrize("way", ["entity", "by id"])
@pytest.mark.parametrize("status", ["pending", "snoozed", "resolved"])
def test_a_status_change_is_stored_with_its_event_showing_the_row_as_stored(
    hub: Hub, database: Database, status: str, way: str
) -> None:
    """Both ways give the same row and event: `do_set_status` on a loaded entity, and the API's
    `change_status` by id (which reads the row in plain SQL and answers with the conversation)."""
    conv_id = _conversation(hub)
    before = _read(database, conv_id)
    until = (utcnow() + timedelta(hours=3)).replace(microsecond=123456)
    snoozed_until = until if status == "snoozed" else None
    answered = None
    with database.write() as s:
        if way == "entity":
            conv = actions.get_conversation(s, conv_id)
            actions.do_set_status(s, conv, status, agent_id=None, snoozed_until=snoozed_until)
        else:
            answered = change_status(s, conv_id, status, agent_id=None, may_act=lambda c: c,
                                     snoozed_until=snoozed_until)
        assert not s.dirty  # nothing left for the ORM to write
    after = _read(database, conv_id)
    if answered is not None:
        assert answered == conversation_dict(after)
    assert after.status == status
    assert after.snoozed_until == (until if status == "snoozed" else None)
    assert (after.resolved_at is not None) == (status == "resolved")
    assert after.updated_at > before.updated_at
    if status == "resolved":
        assert after.waiting_since is None and after.resolved_at == after.updated_at
    else:
        assert after.waiting_since == before.waiting_since
    unchanged = ("contact_id", "channel", "source", "team_id", "assignee_id", "priority", "created_at",
                 "last_message_at", "queued_at")
    assert {k: getattr(after, k) for k in unchanged} == {k: getattr(before, k) for k in unchanged}
    (event,) = _status_events(database, conv_id)
    assert event.payload == {"from": "open", "to": status, "conversation": conversation_dict(after)}
    assert event.actor_agent_id is None and event.contact_id == after.contact_id


def test_several_changes_in_one_transaction_end_as_the_last_one_with_events_in_order(
    hub: Hub, database: Database
) -> None:
    conv_id = _conversation(hub)
    with database.write() as s:
        conv = actions.get_conversation(s, conv_id)
        conv.subject = "Changed by hand"  # an unrelated change the ORM still writes at the commit
        for status in ("pending", "resolved", "open", "resolved"):
            actions.do_set_status(s, conv, status, agent_id=None)
    after = _read(database, conv_id)
    assert (after.status, after.subject) == ("resolved", "Changed by hand")
    events = _status_events(database, conv_id)
    assert [(e.payload["from"], e.payload["to"]) for e in events] == [
        ("open", "pending"), ("pending", "resolved"), ("resolved", "open"), ("open", "resolved")]
    assert events[-1].payload["conversation"]["resolved_at"] == conversation_dict(after)["resolved_at"]


@pytest.mark.parametrize("status", ["snoozed", "resolved"])
def test_stored_values_are_those_the_orm_writes(hub: Hub, database: Database, status: str) -> None:
    """Byte for byte as stored (on SQLite, datetimes as the text SQLAlchemy writes)."""
    fast, slow = _conversation(hub), _conversation(hub)
    until = utcnow() + timedelta(days=1) if status == "snoozed" else None
    with database.write() as s:
        actions.do_set_status(s, actions.get_conversation(s, fast), status, agent_id=None, snoozed_until=until)
    resolved_at = _read(database, fast).resolved_at
    with database.write() as s:  # the same change through the ORM
        conv = actions.get_conversation(s, slow)
        conv.status, conv.snoozed_until, conv.resolved_at = status, until, resolved_at
        conv.updated_at = resolved_at or utcnow()
        if status == "resolved":
            conv.waiting_since = None

    def raw(conversation_id: int) -> dict[str, Any]:
        with database.read() as s:
            row = s.execute(text("SELECT status, snoozed_until, resolved_at, waiting_since, updated_at "
                                 "FROM conversations WHERE id = :id"), {"id": conversation_id}).mappings().one()
            return dict(row)

    got, expected = raw(fast), raw(slow)
    own = ("waiting_since", "updated_at")  # each conversation's own clock, unless resolved
    assert {k: v for k, v in got.items() if k not in own} == {k: v for k, v in expected.items() if k not in own}
    assert [type(got[k]) for k in own] == [type(expected[k]) for k in own]
    if status == "resolved":
        assert got["waiting_since"] is None is expected["waiting_since"]
        assert got["updated_at"] == expected["updated_at"]  # both the resolve's time, stored alike


def test_a_status_change_by_id_that_the_caller_may_not_make_writes_nothing(hub: Hub, database: Database) -> None:
    conv_id = _conversation(hub)
    before = _read(database, conv_id)

    def refuse(conv: Any) -> None:
        assert conv.id == conv_id and conv.status == "open"  # the check sees the conversation as it is
        raise Forbidden("another agent's work")

    with pytest.raises(Forbidden), database.write() as s:
        change_status(s, conv_id, "resolved", agent_id=None, may_act=refuse)
    assert _read(database, conv_id).status == "open" and _read(database, conv_id).updated_at == before.updated_at
    assert _status_events(database, conv_id) == []
    with pytest.raises(NotFound), database.write() as s:
        change_status(s, 10**9, "resolved", agent_id=None, may_act=lambda c: c)


def test_a_status_change_by_id_keeps_what_the_session_changed_on_the_entity_before(
    hub: Hub, database: Database
) -> None:
    """In a shared transaction (the writer's group commit) an earlier write may hold the
    conversation with a change not flushed yet: the status change builds on it, not on the row."""
    conv_id = _conversation(hub)
    with database.write() as s:
        actions.get_conversation(s, conv_id).priority = 3
        answered = change_status(s, conv_id, "pending", agent_id=None, may_act=lambda c: c)
    after = _read(database, conv_id)
    assert (after.priority, after.status) == (3, "pending")
    assert answered == conversation_dict(after)
