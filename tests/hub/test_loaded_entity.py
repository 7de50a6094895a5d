"""`hub.db.loaded_entity`, the cheap way ingest builds a new conversation's entity (no `__init__`),
makes the same entity as the model's constructor: the same values, the same dump, and in a session
the same behaviour (nothing to flush, found by its id, a later change written). On both databases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import make_transient_to_detached

from hub.clock import utcnow
from hub.conversations.models import Conversation
from hub.db import Database, loaded_entity
from hub.ingest.entry import do_ingest_many
from hub.ingest.rows import CONVERSATION_COLUMNS, CONVERSATIONS
from hub.plain_sql import new_row
from hub.ports import ContactRef, InboundMessage, IngestResult

Build = Callable[[dict[str, Any]], Conversation]
BUILDS: dict[str, Build] = {
    "constructor": lambda values: Conversation(**values),
    "loaded_entity": lambda values: loaded_entity(Conversation, new_row(CONVERSATIONS, **values)),
}


def _values(conversation_id: int, contact_id: int) -> dict[str, Any]:
    now = utcnow()
    return {"id": conversation_id, "contact_id": contact_id, "channel": "email", "source": "support@example.com",
            "subject": "Hello", "status": "open", "waiting_since": now, "last_agent_id": None,
            "last_message_at": now, "created_at": now, "updated_at": now}


def _columns(conv: Conversation) -> dict[str, Any]:
    return {c: getattr(conv, c) for c in CONVERSATION_COLUMNS}


def test_it_holds_what_the_constructor_holds() -> None:
    values = _values(7, 3)
    made, loaded = (build(values) for build in BUILDS.values())
    assert _columns(loaded) == _columns(made)
    assert loaded.model_dump() == made.model_dump()
    assert inspect(loaded).transient and inspect(made).transient
    for conv in (made, loaded):  # as routing changes the entity before it is written
        conv.priority += 2
        conv.team_id = None
        conv.routing_skill = "billing"
    assert _columns(loaded) == _columns(made)


@pytest.mark.parametrize("build", list(BUILDS))
def test_in_a_session_it_is_as_if_loaded_and_a_later_change_is_written(database: Database, build: str) -> None:
    with database.write() as s:
        [result] = do_ingest_many(s, [InboundMessage(
            channel="email", source="support@example.com", ingest_scope="email:support", external_id="<1@x>",
            contact=ContactRef(email="ada@example.net"), text="hi")])
    assert isinstance(result, IngestResult)
    with database.read() as s:
        stored = _columns(s.get_one(Conversation, result.conversation_id))
    with database.write() as s:
        conv = BUILDS[build](stored)
        make_transient_to_detached(conv)
        s.add(conv)
        assert not s.dirty and not s.new and not inspect(conv).unloaded
        assert s.get(Conversation, result.conversation_id) is conv
        conv.priority = 5
        assert list(s.dirty) == [conv]
    with database.read() as s:
        after = _columns(s.get_one(Conversation, result.conversation_id))
    assert after == {**stored, "priority": 5}
