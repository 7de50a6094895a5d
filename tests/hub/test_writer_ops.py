"""Agents' writes through the hub's writer (`Hub.write_async`), on SQLite and PostgreSQL.

An op (a callable taking the writer's session) runs in the group-commit writer thread, in a
transaction it may share with inbound messages and other ops (`Hub._write_many`: ops first, a flush,
then the messages). What a user notices is checked: the op's caller gets its value once the change
is committed; a failing op fails only its own caller, everyone else's write lands exactly once; and
a customer writing into a conversation resolved in the same batch reopens it.

Batching is made deterministic as in tests/hub/test_group_commit.py: the writer is held inside a
gated first op until every other item is queued, so they can only be taken together. No sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import select
from sqlmodel import Session

from hub.conversations import actions
from hub.conversations.agent_messages import check_reply
from hub.conversations.models import Conversation, Message
from hub.conversations.schemas import conversation_dict
from hub.db import Database
from hub.errors import Forbidden
from hub.events.models import Event
from hub.outbox.models import OutboxItem
from hub.ports import InboundMessage, IngestResult, OutboundMessage, SendResult
from hub.runtime import Hub
from tests.conftest import wait_for
from tests.factories import api_message, create_agent

_seq = itertools.count(1)
Item = InboundMessage | Callable[[Session], Any]


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def _conversation_of(hub: Hub, email: str) -> int:
    """A customer's conversation, created by their first message (before any batch under test)."""
    result = hub.ingest(api_message(f"first-{next(_seq)}", email, "first message"))
    assert result.created
    return result.conversation_id


class Recorder:
    """Ops that note the session of each run, and the writer's shared batches (`run_many`)."""

    def __init__(self, hub: Hub) -> None:
        self.runs: dict[str, list[Session]] = {}  # op name -> the session of each of its runs
        self.shared: list[tuple[Session, list[Item]]] = []  # each shared transaction and its items
        run_many = hub.writer.run_many
        assert run_many is not None

        def recorded_many(session: Session, items: list[Item]) -> list[Any]:
            self.shared.append((session, list(items)))
            return run_many(session, items)

        hub.writer.run_many = recorded_many

    def op(self, name: str, body: Callable[[Session], Any]) -> Callable[[Session], Any]:
        def run(session: Session) -> Any:
            self.runs.setdefault(name, []).append(session)
            return body(session)

        run.__name__ = name
        return run


async def _hold_writer(hub: Hub, until_queued: int) -> asyncio.Future[Any]:
    """Hold the writer in a gated op until `until_queued` items wait in its queue, then let it go:
    it takes them as one batch. The gated op's future."""
    gate, at_gate = threading.Event(), threading.Event()

    def held(session: Session) -> str:
        at_gate.set()
        assert gate.wait(timeout=20), "the items never arrived"
        return "gate"

    first = asyncio.ensure_future(hub.write_async(held))
    assert await asyncio.to_thread(at_gate.wait, 10), "the writer never reached the gate"

    def release() -> None:
        try:
            wait_for(lambda: hub.writer._queue.qsize() >= until_queued, what="the items to be queued")
        finally:
            gate.set()

    threading.Thread(target=release, daemon=True).start()
    return first


async def _run_batch(hub: Hub, items: list[Item], *, rerun_safe: frozenset[int] | set[int] = frozenset()) -> list[Any]:
    """Submit `items` (ops through `write_async`, those at `rerun_safe` positions as safe to rerun;
    messages through `ingest_async`) while the writer is held in a gated op, so the writer takes
    them as one batch. Each caller's result or exception."""
    first = await _hold_writer(hub, len(items))
    tasks = [asyncio.ensure_future(hub.ingest_async(item) if isinstance(item, InboundMessage)
                                   else hub.write_async(item, rerun_safe=i in rerun_safe))
             for i, item in enumerate(items)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert await first == "gate"
    return list(results)


def _events(db: Database, conversation_id: int, *types: str) -> list[Event]:
    with db.read() as s:
        return list(s.execute(select(Event).where(Event.conversation_id == conversation_id,
                                                  Event.type.in_(types))  # type: ignore[attr-defined]
                              .order_by(Event.id)).scalars())


def _messages(db: Database, **where: Any) -> list[Message]:
    with db.read() as s:
        query = select(Message).order_by(Message.id)  # type: ignore[arg-type]
        for column, value in where.items():
            query = query.where(getattr(Message, column) == value)
        return list(s.execute(query).scalars())


def _status(db: Database, conversation_id: int) -> str:
    with db.read() as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        return conv.status


# -- one op ----------------------------------------------------------------------------------------


def test_an_op_returns_its_value_after_its_commit(database: Database, hub: Hub) -> None:
    conv_id = _conversation_of(hub, "alone@example.com")
    agent_id, _ = create_agent(database)

    def resolve_with_note(s: Session) -> tuple[dict[str, Any], int]:
        conv = actions.get_conversation(s, conv_id)
        note = actions.do_add_note(s, conv, agent_id=agent_id, text="done here")
        actions.do_set_status(s, conv, "resolved", agent_id=agent_id)
        assert note.id is not None
        return conversation_dict(conv), note.id

    async def scenario() -> tuple[tuple[dict[str, Any], int], str, list[Message]]:
        result = await hub.write_async(resolve_with_note)
        # Read at once, on another connection: the commit happened before the caller was answered.
        return result, _status(database, conv_id), _messages(database, conversation_id=conv_id, direction="note")

    (conv, note_id), status_seen, notes_seen = asyncio.run(scenario())
    assert conv["id"] == conv_id and conv["status"] == "resolved"
    assert status_seen == "resolved"
    assert [(n.id, n.text, n.author_agent_id) for n in notes_seen] == [(note_id, "done here", agent_id)]
    resolved = _events(database, conv_id, "conversation.status_changed")
    assert [(e.payload["from"], e.payload["to"]) for e in resolved] == [("open", "resolved")]


# -- a shared batch --------------------------------------------------------------------------------


def test_a_forbidden_op_fails_its_caller_alone_and_the_rest_of_its_batch_commits_once(
    database: Database, hub: Hub
) -> None:
    conv_a = _conversation_of(hub, "a@example.com")
    conv_b = _conversation_of(hub, "b@example.com")
    conv_c = _conversation_of(hub, "c@example.com")
    agent_id, _ = create_agent(database)
    rec = Recorder(hub)

    def note(s: Session) -> int:
        msg = actions.do_add_note(s, actions.get_conversation(s, conv_a), agent_id=agent_id, text="a note")
        assert msg.id is not None
        return msg.id

    def not_yours(s: Session) -> None:
        # Writes something, then refuses: that write must not survive either.
        actions.do_set_status(s, actions.get_conversation(s, conv_b), "pending", agent_id=agent_id)
        raise Forbidden("not your conversation")

    def pending(s: Session) -> str:
        conv = actions.get_conversation(s, conv_c)
        actions.do_set_status(s, conv, "pending", agent_id=agent_id)
        return conv.status

    messages = [api_message("m-a", "a@example.com", "from a"), api_message("m-d", "d@example.com", "from new d"),
                api_message("m-b", "b@example.com", "from b")]
    items: list[Item] = [rec.op("note", note), messages[0], rec.op("not_yours", not_yours), messages[1],
                         rec.op("pending", pending), messages[2]]
    results = asyncio.run(_run_batch(hub, items))

    # They were tried together first: one transaction held every item.
    assert len(rec.shared) == 1
    shared_session, shared_items = rec.shared[0]
    assert [id(i) for i in shared_items] == [id(i) for i in items]
    assert all(rec.runs[name][0] is shared_session for name in ("note", "not_yours"))

    # The refused caller gets its Forbidden; its write is gone.
    assert isinstance(results[2], Forbidden) and results[2].message == "not your conversation"
    assert _status(database, conv_b) == "open"
    assert _events(database, conv_b, "conversation.status_changed") == []

    # Every other caller gets its own result, committed exactly once.
    note_id = results[0]
    assert isinstance(note_id, int)
    notes = _messages(database, direction="note")
    assert [(n.id, n.conversation_id, n.text) for n in notes] == [(note_id, conv_a, "a note")]
    assert len(_events(database, conv_a, "note.created")) == 1
    assert results[4] == "pending" and _status(database, conv_c) == "pending"
    assert [(e.payload["from"], e.payload["to"])
            for e in _events(database, conv_c, "conversation.status_changed")] == [("open", "pending")]

    for msg, result in zip(messages, (results[1], results[3], results[5]), strict=True):
        assert isinstance(result, IngestResult) and result.created, result
        stored = _messages(database, external_id=msg.external_id)
        assert [(m.id, m.conversation_id, m.contact_id, m.text) for m in stored] == [
            (result.message_id, result.conversation_id, result.contact_id, msg.text)]
        created = _events(database, result.conversation_id, "message.created")
        assert [e.payload["message"]["id"] for e in created].count(result.message_id) == 1
    by_id = {m.external_id: r for m, r in zip(messages, (results[1], results[3], results[5]), strict=True)}
    assert by_id["m-a"].conversation_id == conv_a and by_id["m-b"].conversation_id == conv_b
    assert by_id["m-d"].conversation_id not in (conv_a, conv_b, conv_c)
    # Nothing else was written: three first messages, three new ones, one note.
    assert len(_messages(database)) == 7


@pytest.mark.parametrize("others", [0, 1], ids=["alone", "with-another-customer"])
def test_a_message_into_a_conversation_resolved_in_the_same_batch_reopens_it(
    database: Database, hub: Hub, others: int
) -> None:
    """The op resolves; the customer's message, later in the same transaction, must see that (the
    flush between ops and messages) and reopen the conversation instead of landing in it unseen."""
    conv_id = _conversation_of(hub, "x@example.com")
    other_ids = [_conversation_of(hub, f"other{i}@example.com") for i in range(others)]
    rec = Recorder(hub)

    def resolve(s: Session) -> str:
        conv = actions.get_conversation(s, conv_id)
        actions.do_set_status(s, conv, "resolved", agent_id=None)
        return conv.status

    msg = api_message("again", "x@example.com", "one more thing")
    other_msgs = [api_message(f"other-{i}", f"other{i}@example.com") for i in range(others)]
    items: list[Item] = [rec.op("resolve", resolve), msg, *other_msgs]
    results = asyncio.run(_run_batch(hub, items))

    # One shared transaction, and it succeeded: the op ran once, in it.
    assert len(rec.shared) == 1 and [id(i) for i in rec.shared[0][1]] == [id(i) for i in items]
    assert rec.runs["resolve"] == [rec.shared[0][0]]

    assert results[0] == "resolved"
    result = results[1]
    assert isinstance(result, IngestResult) and result.created, result
    assert result.conversation_id == conv_id  # within the reopen window: the same conversation
    assert _status(database, conv_id) == "open"
    changes = _events(database, conv_id, "conversation.status_changed", "message.created")
    stored = _messages(database, external_id="again")
    assert [(m.id, m.conversation_id) for m in stored] == [(result.message_id, conv_id)]
    assert [(e.type, e.payload.get("from"), e.payload.get("to"), e.payload.get("message", {}).get("id"))
            for e in changes][-3:] == [
        ("conversation.status_changed", "open", "resolved", None),
        ("conversation.status_changed", "resolved", "open", None),
        ("message.created", None, None, result.message_id),
    ]
    for other_id, other in zip(other_ids, results[2:], strict=True):
        assert isinstance(other, IngestResult) and other.created and other.conversation_id == other_id
        assert _status(database, other_id) == "open"


# -- a shared COMMIT that may have gone through ----------------------------------------------------


def _lose_shared_commits(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> list[Session]:
    """From now on the connection is lost as each shared COMMIT completes (it did commit): the
    transactions that were, in order."""
    real_commit = Session.commit
    shared: list[Session] = []
    lost: list[Session] = []
    run_many = hub.writer.run_many
    assert run_many is not None

    def watched_many(session: Session, items: list[Item]) -> list[Any]:
        shared.append(session)
        return run_many(session, items)

    def commit_then_lose_the_connection(self: Session) -> None:
        real_commit(self)
        if self in shared and self not in lost:
            lost.append(self)
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))

    hub.writer.run_many = watched_many
    monkeypatch.setattr(Session, "commit", commit_then_lose_the_connection)
    return lost


def test_after_an_unsure_commit_a_reply_with_a_client_id_answers_its_first_copy_and_one_without_fails(
    database: Database, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection is lost as the shared COMMIT completes (it did commit). A reply sent with a
    client id is run again, finds the copy the batch stored and answers it: stored and queued once.
    A note without one cannot know, so its caller gets the error (a retry would store it twice)."""
    conv_id = _conversation_of(hub, "unsure@example.com")
    agent_id, _ = create_agent(database)
    client_id = str(uuid.uuid4())

    def reply(s: Session) -> tuple[int, bool]:
        msg, created = check_reply(s, conv_id, may_act=lambda conv: conv, agent_id=agent_id, text="on it",
                                   client_id=client_id)
        assert msg.id is not None
        return msg.id, created

    def note(s: Session) -> int:
        msg = actions.do_add_note(s, actions.get_conversation(s, conv_id), agent_id=agent_id, text="a note")
        assert msg.id is not None
        return msg.id

    lost = _lose_shared_commits(hub, monkeypatch)
    results = asyncio.run(_run_batch(hub, [reply, note], rerun_safe={0}))

    assert lost, "the shared commit was never interrupted"
    reply_id, created = results[0]
    assert created is False  # the rerun found the batch's copy
    assert isinstance(results[1], sqlalchemy.exc.OperationalError)
    replies = _messages(database, conversation_id=conv_id, direction="out")
    assert [(m.id, m.client_id) for m in replies] == [(reply_id, client_id)]
    with database.read() as s:
        assert len(list(s.execute(select(OutboxItem).where(OutboxItem.message_id == reply_id)).scalars())) == 1
    assert len(_messages(database, conversation_id=conv_id, direction="note")) == 1  # committed once, not rerun


def test_the_database_refuses_a_second_message_with_an_authors_client_id(database: Database, hub: Hub) -> None:
    conv_id = _conversation_of(hub, "unique@example.com")
    agent_id, _ = create_agent(database)
    other_id, _ = create_agent(database)
    with database.write() as s:
        actions.do_add_note(s, actions.get_conversation(s, conv_id), agent_id=agent_id, text="one", client_id="k")
    with pytest.raises(sqlalchemy.exc.IntegrityError), database.write() as s:
        actions.do_add_note(s, actions.get_conversation(s, conv_id), agent_id=agent_id, text="two", client_id="k")
    with database.write() as s:  # unique per author only; and no id at all is never a duplicate
        actions.do_add_note(s, actions.get_conversation(s, conv_id), agent_id=other_id, text="three", client_id="k")
        actions.do_add_note(s, actions.get_conversation(s, conv_id), agent_id=agent_id, text="four")
        actions.do_add_note(s, actions.get_conversation(s, conv_id), agent_id=agent_id, text="five")
    assert [n.text for n in _messages(database, conversation_id=conv_id, direction="note")] == [
        "one", "three", "four", "five"]



def test_a_reply_whose_claim_and_outcome_commits_were_unsure_is_sent_once_with_one_status_event(
    database: Database, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's delivery worker claims and records through the writer, in batches shared with
    customers' messages. The connection is lost as the claim's shared COMMIT completes, and again
    as the outcome's: the claim, run again, takes the row once its lease lapsed (here at once); the
    outcome, run again, finds it recorded. The customer gets the reply once; its status changes once."""
    conv_id = _conversation_of(hub, "delivered@example.com")
    agent_id, _ = create_agent(database)
    beside: list[asyncio.Future[Any]] = []  # the gates and the customers' messages sharing the batches

    async def a_customer_beside() -> None:
        beside.append(await _hold_writer(hub, 2))  # this customer's message, and the worker's op
        beside.append(asyncio.ensure_future(hub.ingest_async(api_message(f"beside-{next(_seq)}", "b@example.com"))))

    class Provider:
        channel = "api"
        address_kind = None

        def __init__(self) -> None:
            self.sent: list[int] = []

        async def send(self, message: OutboundMessage) -> SendResult:
            self.sent.append(message.outbox_id)
            await a_customer_beside()  # for the outcome's batch
            return SendResult(provider_id=f"p-{message.outbox_id}", status="delivered")

    def op(s: Session) -> int:
        msg, _ = check_reply(s, conv_id, may_act=lambda conv: conv, agent_id=agent_id, text="on its way")
        assert msg.id is not None
        return msg.id

    provider = Provider()
    hub.worker.adapters["api"] = provider
    hub.worker.lease = timedelta(0)

    async def scenario() -> int:
        message_id: int = await hub.write_async(op)  # alone, not shared: its commit goes through
        await a_customer_beside()  # for the claim's batch
        assert await hub.worker.run_once() == 1
        for done in await asyncio.gather(*beside, return_exceptions=True):
            assert not isinstance(done, BaseException)
        return message_id

    lost = _lose_shared_commits(hub, monkeypatch)
    message_id = asyncio.run(scenario())

    assert len(lost) == 2, "the claim's and the outcome's shared commits were not both interrupted"
    with database.read() as s:
        [item] = s.execute(select(OutboxItem).where(OutboxItem.message_id == message_id)).scalars()
        message = s.get(Message, message_id)
        assert message is not None
        assert (item.status, message.delivery_status) == ("sent", "delivered")
    assert provider.sent == [item.id]
    assert len(_events(database, conv_id, "delivery.status_changed")) == 1
