"""Thread keys (hub.conversations.threads): a channel names the conversation a message continues by
keys it recorded (its own Message-ID, a reply token), never by conversation id. On both databases."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from hub.clock import utcnow
from hub.conversations.actions import do_set_status, get_conversation
from hub.conversations.models import Conversation, ThreadKey
from hub.conversations.replies import do_reply
from hub.conversations.threads import record_keys
from hub.db import Database
from hub.delivery.claim import claim
from hub.events.models import Event
from hub.ingest.entry import do_ingest, do_ingest_many
from hub.ports import THREAD_KEY_MAX, ContactRef, InboundMessage, IngestResult
from hub.runtime import Hub
from tests.factories import create_agent, thread_keys

_seq = itertools.count(1)


def mail(email: str, **fields: Any) -> InboundMessage:
    return InboundMessage(channel="email", source="support@shop.example", ingest_scope="mail:support",
                          external_id=f"<m{next(_seq)}@example.com>", contact=ContactRef(email=email),
                          text=fields.pop("text", "hello"), **fields)


def ingest(db: Database, msg: InboundMessage, window: timedelta = timedelta(days=7)) -> IngestResult:
    with db.write() as s:
        return do_ingest(s, msg, reopen_window=window)


def event_types(db: Database, conversation_id: int, after: int = 0) -> list[str]:
    with db.read() as s:
        return list(s.execute(select(Event.type).where(Event.conversation_id == conversation_id, Event.id > after)
                              .order_by(Event.id)).scalars())


def head(db: Database) -> int:
    with db.read() as s:
        return max(s.execute(select(Event.id)).scalars(), default=0)


def test_a_reply_by_a_known_key_joins_its_conversation_whoever_writes_and_its_own_key_is_kept(
        database: Database) -> None:
    first = ingest(database, mail("ann@example.com", own_thread_keys=("<a1@example.com>",)))
    # Ann writes about something else from another address of hers on another day: a new thread.
    other = ingest(database, mail("ann@work.example", text="new topic"))
    assert other.conversation_id != first.conversation_id
    # A colleague copied on the thread answers it: In-Reply-To names Ann's first mail.
    reply = ingest(database, mail("bob@example.com", thread_keys=("<unknown@x>", "<a1@example.com>"),
                                  own_thread_keys=("<b1@example.com>",)))
    assert reply.conversation_id == first.conversation_id and reply.contact_id != first.contact_id
    # A reply carrying only the colleague's Message-ID (in References) threads there too.
    again = ingest(database, mail("ann@example.com", thread_keys=("<b1@example.com>",)))
    assert again.conversation_id == first.conversation_id
    assert thread_keys(database, first.conversation_id) == ("<a1@example.com>", "<b1@example.com>")


def test_a_weak_key_counts_only_for_the_conversations_own_customer(database: Database) -> None:
    gil = ingest(database, mail("gil@example.com"))
    with database.write() as s:
        record_keys(s, "email", ["[#T-1]"], gil.conversation_id)
    gil_head = head(database)
    sneaky = ingest(database, mail("hal@example.com", weak_thread_keys=("[#T-1]",), text="sneaky"))
    assert sneaky.conversation_id != gil.conversation_id
    assert event_types(database, gil.conversation_id, gil_head) == []  # gil's agents see nothing
    own = ingest(database, mail("gil@example.com", weak_thread_keys=("[#T-1]",)))
    assert own.conversation_id == gil.conversation_id
    # A key of another channel is another key.
    sms = ingest(database, InboundMessage(channel="sms", source="+15550001111", ingest_scope="twilio",
                                          external_id="SM1", contact=ContactRef(email="gil@example.com"),
                                          text="hi", thread_keys=("[#T-1]",)))
    assert sms.conversation_id != gil.conversation_id


def test_a_resolved_conversation_is_reopened_by_its_key_within_the_window_and_not_after(database: Database) -> None:
    first = ingest(database, mail("ivy@example.com", own_thread_keys=("<i1@example.com>",)))
    with database.write() as s:
        do_set_status(s, s.get(Conversation, first.conversation_id), "resolved", agent_id=None)  # type: ignore[arg-type]
    reopened = ingest(database, mail("ivy@example.com", thread_keys=("<i1@example.com>",)))
    assert reopened.conversation_id == first.conversation_id
    assert event_types(database, first.conversation_id)[-2:] == ["conversation.status_changed", "message.created"]
    with database.write() as s:
        do_set_status(s, s.get(Conversation, first.conversation_id), "resolved", agent_id=None)  # type: ignore[arg-type]
        s.execute(update(Conversation).where(Conversation.id == first.conversation_id)  # type: ignore[arg-type]
                  .values(resolved_at=utcnow() - timedelta(days=30)))
    late = ingest(database, mail("ivy@example.com", thread_keys=("<i1@example.com>",),
                                 own_thread_keys=("<i9@example.com>",)))
    assert late.conversation_id != first.conversation_id
    assert thread_keys(database, late.conversation_id) == ("<i9@example.com>",)


def test_a_key_is_kept_by_the_first_conversation_that_claims_it_and_overlong_keys_are_ignored(
        database: Database) -> None:
    long_key = "<" + "x" * THREAD_KEY_MAX + ">"
    first = ingest(database, mail("jo@example.com", own_thread_keys=("<dup@example.com>", long_key)))
    second = ingest(database, mail("kim@example.com", own_thread_keys=("<dup@example.com>",)))
    assert second.conversation_id != first.conversation_id
    with database.read() as s:
        rows = s.execute(select(ThreadKey.key, ThreadKey.conversation_id)).all()
    assert rows == [("<dup@example.com>", first.conversation_id)]
    follow = ingest(database, mail("kim@example.com", thread_keys=(long_key, "<dup@example.com>")))
    assert follow.conversation_id == first.conversation_id


def test_threaded_messages_in_a_batch_each_resolve_and_a_redelivery_stays_a_no_op(database: Database) -> None:
    first = ingest(database, mail("lea@example.com", own_thread_keys=("<l1@example.com>",)))
    plain = mail("max@example.com")
    threaded = mail("lea@example.com", thread_keys=("<l1@example.com>",))
    with database.write() as s:
        results = do_ingest_many(s, [plain, threaded, threaded])
    assert [r.conversation_id for r in results[1:]] == [first.conversation_id] * 2  # type: ignore[union-attr]
    assert [r.created for r in results] == [True, True, False]  # type: ignore[union-attr]


def test_keys_a_send_reports_are_recorded_and_the_next_outgoing_item_carries_them_oldest_first(
        hub: Hub, database: Database) -> None:
    first = hub.ingest(mail("ned@example.com", own_thread_keys=("<n1@example.com>",)))
    with database.write() as s:
        record_keys(s, "email", ["<out-1@hub.example>", "<n1@example.com>"], first.conversation_id)
        record_keys(s, "email", ["<out-2@hub.example>"], first.conversation_id)
    agent_id, _ = create_agent(database)
    with database.write() as s:
        do_reply(s, get_conversation(s, first.conversation_id), agent_id=agent_id, text="thanks, Ned")
    with database.write() as s:
        claimed = claim(s, ["email"], 5, timedelta(seconds=10))
    assert [i.conversation_id for i in claimed.items] == [first.conversation_id]
    assert claimed.thread_keys == {
        first.conversation_id: ("<n1@example.com>", "<out-1@hub.example>", "<out-2@hub.example>")}


@pytest.mark.parametrize("field", ["thread_keys", "own_thread_keys"])
def test_a_nul_in_a_key_is_refused_before_the_writer(hub: Hub, field: str) -> None:
    from hub.ports import RejectedMessage
    with pytest.raises(RejectedMessage, match=f"{field}.0"):
        hub.ingest(mail("oz@example.com", **{field: ("<a\x00b>",)}))
