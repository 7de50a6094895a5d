"""The delivery worker's hot writes in plain SQL (hub.delivery.claim, hub.delivery.sent), on SQLite
and PostgreSQL: what a claim takes and how it leaves the row; what a send that went through leaves
in the outbox row, on the message (its provider id, status, a stale retry note gone) and in the
`delivery.status_changed` event consoles get, compared with the message read back afresh; and that
recording it twice (a rerun after an unsure commit) writes nothing the second time; the keys the
adapter minted are recorded for the conversation, and the next claim there returns them (oldest
first, as stored) for the adapter to thread its next send."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from hub.conversations.actions import get_conversation
from hub.conversations.models import Message, ThreadKey
from hub.conversations.replies import do_reply
from hub.conversations.schemas import message_dict
from hub.conversations.threads import record_keys
from hub.db import Database
from hub.delivery.claim import claim
from hub.delivery.sent import do_record_sent
from hub.events.models import Event
from hub.outbox.models import OutboxItem
from hub.ports import ContactRef, InboundMessage
from hub.runtime import Hub
from tests.factories import create_agent, thread_keys

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def _replies(hub: Hub, db: Database, count: int) -> list[int]:
    conv_id = hub.ingest(InboundMessage(channel="api", source="crm", ingest_scope="api:crm", external_id="c-1",
                                        contact=ContactRef(email="c@example.com"), text="hi")).conversation_id
    agent_id, _ = create_agent(db)
    ids = []
    for n in range(count):
        with db.write() as s:
            message = do_reply(s, get_conversation(s, conv_id), agent_id=agent_id, text=f"reply {n}")
            assert message.id is not None
            ids.append(message.id)
    return ids


def _outbox(db: Database) -> dict[int, OutboxItem]:
    with db.read() as s:
        return {i.message_id: i for i in s.execute(select(OutboxItem)).scalars()}  # type: ignore[misc]


def test_a_claim_takes_due_rows_oldest_first_up_to_its_limit_and_leases_them(hub: Hub, database: Database) -> None:
    messages = _replies(hub, database, 3)
    with database.write() as s:
        taken = claim(s, ["api", "sms"], 2, timedelta(seconds=10)).items
        assert not s.new and not s.dirty  # entities outside the session: nothing to write back
    assert [i.message_id for i in taken] == messages[:2]
    stored = _outbox(database)
    for item in taken:
        row = stored[item.message_id]  # type: ignore[index]
        assert (row.status, row.attempts) == (item.status, item.attempts) == ("in_flight", 1)
        assert row.lease_until == item.lease_until and row.lease_until is not None
        assert item.payload == row.payload and item.payload["text"].startswith("reply ")
    assert stored[messages[2]].status == "pending"
    with database.write() as s:
        assert [i.message_id for i in claim(s, ["api"], 5, timedelta(seconds=10)).items] == messages[2:]
        assert claim(s, ["api"], 5, timedelta(seconds=10)).items == []  # the others are leased
        assert claim(s, ["sms"], 5, timedelta(seconds=10)).items == []


def test_a_send_that_went_through_is_recorded_once_with_its_event(hub: Hub, database: Database) -> None:
    [message_id] = _replies(hub, database, 1)
    with database.write() as s:
        [item] = claim(s, ["api"], 5, timedelta(seconds=10)).items
        note = s.get(Message, message_id)
        assert note is not None
        note.delivery_error = "retrying: timeout"  # an earlier attempt failed for now
    assert item.id is not None
    with database.write() as s:
        assert do_record_sent(s, item.id, "prov-1", "delivered", ("<k1@hub.example>",))
    with database.write() as s:
        assert not do_record_sent(s, item.id, "prov-1", "delivered")  # a rerun: nothing more
    row = _outbox(database)[message_id]
    assert (row.status, row.provider_id, row.lease_until, row.last_error) == ("sent", "prov-1", None, None)
    with database.read() as s:
        message = s.get(Message, message_id)
        assert message is not None
        events = s.execute(select(Event).where(Event.type == "delivery.status_changed")).scalars().all()  # type: ignore[arg-type]
    assert (message.provider_id, message.delivery_status, message.delivery_error) == ("prov-1", "delivered", None)
    assert len(events) == 1 and thread_keys(database, message.conversation_id) == ("<k1@hub.example>",)
    assert events[0].payload["message"] == message_dict(message)
    assert (events[0].payload["status"], events[0].payload["error"]) == ("delivered", None)


def test_a_claim_returns_each_conversations_thread_keys_oldest_first(hub: Hub, database: Database) -> None:
    first, second = _replies(hub, database, 2)
    with database.write() as s:
        message = s.get(Message, first)
        assert message is not None
        conv_id = message.conversation_id
        record_keys(s, "api", ["<k2@hub.example>"], conv_id)
        record_keys(s, "api", ["<k1@hub.example>"], conv_id)  # later, though it sorts first
    with database.write() as s:
        claimed = claim(s, ["api"], 1, timedelta(seconds=10))
    assert [i.message_id for i in claimed.items] == [first]
    assert claimed.thread_keys == {conv_id: thread_keys(database, conv_id)} == {conv_id: ("<k2@hub.example>",
                                                                                        "<k1@hub.example>")}
    with database.write() as s:
        s.execute(delete(ThreadKey))
    with database.write() as s:
        claimed = claim(s, ["api"], 1, timedelta(seconds=10))
    assert [i.message_id for i in claimed.items] == [second] and claimed.thread_keys == {}  # none: no entry
