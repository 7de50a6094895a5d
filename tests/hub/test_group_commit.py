"""GroupCommit (hub.group_commit): shared transactions, each caller answered after its commit.

On SQLite and PostgreSQL, with a tiny table of its own, then with the hub's real ingest. Batching is
made deterministic with a gate: the writer is held inside the first item until every other item is
queued, so they can only be taken together. No test sleeps: each waits for a condition.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import select, text
from sqlmodel import Session

from hub.conversations.models import Message
from hub.db import Database
from hub.errors import Invalid
from hub.group_commit import GroupCommit
from hub.ports import InboundMessage, IngestResult
from hub.runtime import Hub
from tests.conftest import wait_for
from tests.factories import api_message

TABLE = "group_commit_test_items"
_seq = itertools.count(1)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url, pool_size=5)
    id_column = "INTEGER PRIMARY KEY" if db.dialect == "sqlite" else "SERIAL PRIMARY KEY"
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        conn.execute(text(f"CREATE TABLE {TABLE} (id {id_column}, name TEXT NOT NULL)"))
    yield db
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
    db.dispose()


class Boom(Exception):
    """What a bad item raises."""


class Writer:
    """run_one/solo over the tiny table, recording which transaction ran each item.

    Item "gate:..." holds the writer until `gate` is set; items starting with "bad" raise after
    their insert (so a rollback must undo it).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.gate = threading.Event()
        self.at_gate = threading.Event()
        self.sessions: list[tuple[str, Session]] = []  # (item, the session it ran in), in run order
        self.seen_uncommitted: list[str] = []  # items another connection could see before the commit

    def run_one(self, session: Session, item: str) -> tuple[str, int]:
        self.sessions.append((item, session))
        row_id = int(session.execute(text(f"INSERT INTO {TABLE} (name) VALUES (:n) RETURNING id"),
                                     {"n": item}).scalar_one())
        if visible(self.db, item):
            self.seen_uncommitted.append(item)
        if item.startswith("gate"):
            self.at_gate.set()
            assert self.gate.wait(timeout=20), "the test never opened the gate"
        if item.startswith("bad"):
            raise Boom(item)
        return item, row_id

    def solo(self, item: str) -> tuple[str, int]:
        with self.db.write() as s:
            return self.run_one(s, item)

    def batches(self) -> list[list[str]]:
        """Items grouped by the transaction that ran them, in order (a retried item shows twice)."""
        out: list[list[str]] = []
        last: Session | None = None
        for item, session in self.sessions:
            if session is not last:
                out.append([])
                last = session
            out[-1].append(item)
        return out


def visible(db: Database, name: str) -> bool:
    """Whether another connection sees the row (that is: it was committed).

    Asked from a thread of its own: inside the writer's transaction a read on SQLite would queue
    behind that very transaction (Database.write marks the thread as a writer)."""
    answer: list[bool] = []

    def ask() -> None:
        with db.read() as s:
            n = s.execute(text(f"SELECT count(*) FROM {TABLE} WHERE name = :n"), {"n": name}).scalar_one()
            answer.append(bool(n))

    t = threading.Thread(target=ask, daemon=True)
    t.start()
    t.join(timeout=10)
    assert answer, "the visibility check hung"
    return answer[0]


def rows(db: Database) -> dict[str, list[int]]:
    with db.read() as s:
        out: dict[str, list[int]] = {}
        for row_id, name in s.execute(text(f"SELECT id, name FROM {TABLE} ORDER BY id")).all():
            out.setdefault(name, []).append(int(row_id))
        return out


@pytest.fixture
def writer(database: Database) -> Writer:
    return Writer(database)


@pytest.fixture
def group(database: Database, writer: Writer) -> Iterator[GroupCommit[str, tuple[str, int]]]:
    gc: GroupCommit[str, tuple[str, int]] = GroupCommit(database, writer.run_one, writer.solo, name="test-writer")
    yield gc
    writer.gate.set()
    gc.close()


def hold_writer(group: GroupCommit[Any, Any], writer: Writer) -> Future[Any]:
    """Submit the gate item and wait until the writer is stuck in it: what follows queues up."""
    fut = group.submit(f"gate:{next(_seq)}")
    assert writer.at_gate.wait(timeout=10)
    return fut


def in_threads(n: int, target: Callable[[int], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads


# -- the tiny table --------------------------------------------------------------------------------


def test_concurrent_submitters_each_get_their_own_result_from_shared_transactions(
    database: Database, writer: Writer, group: GroupCommit[str, tuple[str, int]]
) -> None:
    n = 40
    gate = hold_writer(group, writer)
    submitted: list[int] = []
    results: dict[int, tuple[str, int]] = {}
    answered_before_commit: list[int] = []
    lock = threading.Lock()

    def submitter(i: int) -> None:
        fut = group.submit(f"item-{i}")
        with lock:
            submitted.append(i)
        result = fut.result(timeout=30)
        if not visible(database, f"item-{i}"):
            answered_before_commit.append(i)
        results[i] = result

    threads = in_threads(n, submitter)
    wait_for(lambda: len(submitted) == n, what="every submitter to queue its item")
    writer.gate.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    gate.result(timeout=10)

    stored = rows(database)
    assert results == {i: (f"item-{i}", stored[f"item-{i}"][0]) for i in range(n)}  # each its own row
    assert all(len(ids) == 1 for ids in stored.values())  # written once
    assert answered_before_commit == [] and writer.seen_uncommitted == []
    # All forty were queued while the writer was held: they went in one transaction.
    assert sorted(map(len, writer.batches())) == [1, n]
    assert (group.batches, group.items) == (2, n + 1)


def test_no_future_completes_before_its_commit_is_visible_elsewhere(
    database: Database, writer: Writer, group: GroupCommit[str, tuple[str, int]]
) -> None:
    seen_at_completion: dict[str, bool] = {}

    def check(fut: Future[tuple[str, int]]) -> None:  # runs the moment the future completes
        name, _ = fut.result()
        seen_at_completion[name] = visible(database, name)

    gate = hold_writer(group, writer)
    gate.add_done_callback(check)
    batched = [group.submit(f"batched-{i}") for i in range(5)]
    for fut in batched:
        fut.add_done_callback(check)
    assert not any(f.done() for f in batched)
    writer.gate.set()
    for fut in [gate, *batched]:
        fut.result(timeout=10)
    alone = group.submit("alone")  # a batch of one
    alone.add_done_callback(check)
    alone.result(timeout=10)
    wait_for(lambda: len(seen_at_completion) == 7, what="every completion callback")

    assert seen_at_completion == dict.fromkeys(seen_at_completion, True)
    assert writer.seen_uncommitted == []  # and the check can tell: nothing was visible while in flight
    assert [len(b) for b in writer.batches()] == [1, 5, 1]


def test_one_bad_item_fails_alone_and_the_rest_of_its_batch_commits(
    database: Database, writer: Writer, group: GroupCommit[str, tuple[str, int]]
) -> None:
    gate = hold_writer(group, writer)
    names = ["good-1", "good-2", "bad-3", "good-4", "good-5"]
    futures = {name: group.submit(name) for name in names}
    writer.gate.set()
    gate.result(timeout=10)

    with pytest.raises(Boom, match="bad-3"):
        futures["bad-3"].result(timeout=10)
    good = {name: futures[name].result(timeout=10) for name in names if name != "bad-3"}
    stored = rows(database)
    assert good == {name: (name, stored[name][0]) for name in good}
    assert set(stored) == {*good, gate.result()[0]}  # the bad item's insert was rolled back
    assert all(len(ids) == 1 for ids in stored.values())  # the failed batch left nothing behind
    # It was tried together first (up to the bad item), then item by item.
    assert writer.batches()[1] == names[:3]
    assert writer.batches()[2:] == [[name] for name in names]

    # The writer carries on.
    assert group.submit("after").result(timeout=10)[0] == "after"


def test_after_a_commit_that_may_have_gone_through_only_rerunnable_items_run_again(
    database: Database, writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection is lost as the shared COMMIT completes: the batch did commit, but the writer
    cannot know. An item safe to run twice (an inbound message: its unique key finds the first
    copy) is rerun; any other (an agent's reply) answers its caller with the error, never twice."""
    group: GroupCommit[str, tuple[str, int]] = GroupCommit(
        database, writer.run_one, writer.solo, name="test-writer",
        rerun_if_unsure=lambda item: item.startswith("again"),
    )
    try:
        gate = hold_writer(group, writer)
        names = ["once-1", "again-2", "once-3"]
        futures = {name: group.submit(name) for name in names}
        real_commit = Session.commit
        lost: list[Session] = []

        def commit_then_lose_the_connection(self: Session) -> None:
            real_commit(self)
            if not lost and any(item == "once-1" and session is self for item, session in writer.sessions):
                lost.append(self)
                raise sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))

        monkeypatch.setattr(Session, "commit", commit_then_lose_the_connection)
        writer.gate.set()
        gate.result(timeout=10)

        for name in ("once-1", "once-3"):
            with pytest.raises(sqlalchemy.exc.OperationalError, match="server closed"):
                futures[name].result(timeout=10)
        assert futures["again-2"].result(timeout=10)[0] == "again-2"
        stored = rows(database)
        assert len(stored["once-1"]) == len(stored["once-3"]) == 1  # committed once, not run again
        assert len(stored["again-2"]) == 2  # run again (a real one would have found its first copy)
        assert [item for item, _ in writer.sessions].count("once-1") == 1
        assert lost
    finally:
        writer.gate.set()
        group.close()


def test_a_cancelled_future_is_not_run(
    database: Database, writer: Writer, group: GroupCommit[str, tuple[str, int]]
) -> None:
    gate = hold_writer(group, writer)
    dropped = group.submit("dropped")
    kept = group.submit("kept")
    assert dropped.cancel()  # the caller gave up while it was still queued
    writer.gate.set()
    assert kept.result(timeout=10)[0] == "kept"
    gate.result(timeout=10)
    with pytest.raises(CancelledError):
        dropped.result(timeout=0)
    assert "dropped" not in [item for item, _ in writer.sessions]
    assert not visible(database, "dropped")


def test_close_finishes_queued_work_and_a_later_submit_starts_again(
    database: Database, writer: Writer, group: GroupCommit[str, tuple[str, int]]
) -> None:
    gate = hold_writer(group, writer)
    queued = [group.submit(f"queued-{i}") for i in range(4)]
    closed = threading.Event()

    def close() -> None:
        group.close()
        closed.set()

    closer = threading.Thread(target=close, daemon=True)
    closer.start()
    # close() has put its stop mark behind the queued items and now waits for the writer.
    wait_for(lambda: group._thread is None, what="close to queue its stop")  # set with the stop, under the lock
    assert not closed.is_set()
    writer.gate.set()
    assert closed.wait(timeout=10)
    assert all(f.done() for f in [gate, *queued])  # close() returned only after the queued work
    assert [f.result()[0] for f in queued] == [f"queued-{i}" for i in range(4)]
    assert all(visible(database, f"queued-{i}") for i in range(4))

    assert group.submit("later").result(timeout=10)[0] == "later"  # a new writer thread
    assert visible(database, "later")
    group.close()
    group.close()  # closing an idle group is harmless
    assert group.submit("again").result(timeout=10)[0] == "again"


def test_a_batch_is_never_larger_than_max_batch(database: Database, writer: Writer) -> None:
    group: GroupCommit[str, tuple[str, int]] = GroupCommit(database, writer.run_one, writer.solo, max_batch=3)
    try:
        gate = hold_writer(group, writer)
        futures = [group.submit(f"item-{i}") for i in range(7)]
        writer.gate.set()
        assert [f.result(timeout=10)[0] for f in futures] == [f"item-{i}" for i in range(7)]
        gate.result(timeout=10)
    finally:
        writer.gate.set()
        group.close()
    assert [len(b) for b in writer.batches()] == [1, 3, 3, 1]


def test_submits_racing_with_close_are_all_answered(
    database: Database, writer: Writer, group: GroupCommit[str, tuple[str, int]],
) -> None:
    """A close() from another thread (Hub.stop while a channel still ingests) never strands an
    item behind the writer's stop mark: every submitter is answered."""
    stop = threading.Event()

    def keep_closing() -> None:
        while not stop.is_set():
            group.close()

    closer = threading.Thread(target=keep_closing)
    closer.start()
    try:
        futures = [group.submit(f"item-{i}") for i in range(200)]
        answered = [f.result(timeout=10)[0] for f in futures]
    finally:
        stop.set()
        closer.join()
    assert answered == [f"item-{i}" for i in range(200)]


def test_a_caller_whose_loop_is_gone_does_not_take_the_writer_down(
    database: Database, writer: Writer, group: GroupCommit[str, tuple[str, int]],
) -> None:
    """Answering an event-loop caller whose loop closed meanwhile raises RuntimeError; the writer
    carries on and later callers are answered."""

    class GoneLoop:
        def call_soon_threadsafe(self, *_: Any) -> None:
            raise RuntimeError("Event loop is closed")

    gone: asyncio.Future[tuple[str, int]] = asyncio.new_event_loop().create_future()
    group._enqueue(("orphan", gone, GoneLoop()))  # type: ignore[arg-type]  # as submit_async queues it
    assert group.submit("after").result(timeout=10)[0] == "after"
    assert visible(database, "orphan") and visible(database, "after")


# -- the hub's ingest --------------------------------------------------------------------------------


def _ingest_batch(hub: Hub, batch: list[InboundMessage]) -> tuple[dict[int, Any], dict[str, Session]]:
    """Submit `batch` from one thread per message while the writer is held, so it is taken whole.
    Returns each submitter's result (or exception) and the session each message first ran in."""
    ingest_in, run_one = hub._ingest_in, hub.writer.run_one
    gate, at_gate = threading.Event(), threading.Event()
    sessions: dict[str, Session] = {}

    def gated(session: Session, msg: InboundMessage) -> IngestResult:
        sessions.setdefault(msg.external_id, session)
        if msg.external_id.startswith("gate"):
            at_gate.set()
            assert gate.wait(timeout=20)
        return ingest_in(session, msg)

    ingest_many = hub.writer.run_many
    assert ingest_many is not None

    def recorded_many(session: Session, msgs: list[InboundMessage]) -> list[IngestResult]:
        for msg in msgs:
            sessions.setdefault(msg.external_id, session)
        return ingest_many(session, msgs)

    hub.writer.run_one = hub._ingest_in = gated  # type: ignore[assignment]  # in a batch, and alone
    hub.writer.run_many = recorded_many
    try:
        first = hub.writer.submit(api_message(f"gate-{next(_seq)}", "gate@example.com"))
        assert at_gate.wait(timeout=10)
        results: dict[int, Any] = {}
        submitted: list[int] = []

        def submitter(i: int) -> None:
            fut = hub.writer.submit(batch[i])
            submitted.append(i)
            try:
                results[i] = fut.result(timeout=30)
            except BaseException as exc:
                results[i] = exc

        threads = in_threads(len(batch), submitter)
        wait_for(lambda: len(submitted) == len(batch), what="every message to be queued")
        gate.set()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads)
        first.result(timeout=10)
    finally:
        gate.set()
        hub.writer.run_one, hub._ingest_in = run_one, ingest_in  # type: ignore[method-assign]
        hub.writer.run_many = ingest_many
    return results, sessions


def stored_messages(db: Database) -> dict[str, Message]:
    with db.read() as s:
        return {m.external_id: m for m in s.execute(select(Message)).scalars()}  # type: ignore[misc]


def test_concurrent_hub_ingests_share_a_commit_and_each_gets_its_own_message(
    database: Database, hub: Hub
) -> None:
    """New and known customers (both ingest paths) and a redelivery, all in one transaction."""
    known = hub.ingest(api_message("known-0", "known@example.com"))
    batch = [api_message(f"m-{i}", f"c{i % 4}@example.com", f"text {i}") for i in range(12)]
    batch += [api_message(f"k-{i}", "known@example.com", f"known {i}") for i in range(3)]
    batch += [api_message("m-0", "c0@example.com", "text 0 (redelivered)")]
    results, sessions = _ingest_batch(hub, batch)

    stored = stored_messages(database)
    created: dict[str, IngestResult] = {}
    for i, result in results.items():
        assert isinstance(result, IngestResult), result
        row = stored[batch[i].external_id]
        assert (result.message_id, result.conversation_id, result.contact_id) == (
            row.id, row.conversation_id, row.contact_id)
        if result.created:
            assert batch[i].external_id not in created
            assert row.text == batch[i].text
            created[batch[i].external_id] = result
    # Every message stored once; the redelivery got the first copy (whichever of the two ran first).
    assert set(created) == {m.external_id for m in batch}
    assert sum(1 for r in results.values() if not r.created) == 1
    assert len(stored) == len(created) + 2  # with known-0 and the gate
    conversations = {(r.contact_id, r.conversation_id) for r in created.values()}
    assert len(conversations) == 5 == len({contact for contact, _ in conversations})  # one per customer
    assert {created[f"k-{i}"].conversation_id for i in range(3)} == {known.conversation_id}
    # The batch was one transaction, and committed as one.
    assert len({id(sessions[m.external_id]) for m in batch}) == 1
    assert hub.writer.items - hub.writer.batches >= len(batch) - 1


def test_an_invalid_message_in_a_hub_batch_fails_alone(database: Database, hub: Hub) -> None:
    batch = [api_message(f"ok-{i}", f"d{i}@example.com") for i in range(5)]
    batch.insert(2, api_message("invalid", "not an email"))
    results, _ = _ingest_batch(hub, batch)
    assert isinstance(results.pop(2), Invalid)
    stored = stored_messages(database)
    assert "invalid" not in stored
    for i, result in results.items():
        assert isinstance(result, IngestResult) and result.created, result
        assert stored[batch[i].external_id].id == result.message_id


def test_under_load_the_writer_lingers_for_what_arrives_next(database: Database, writer: Writer) -> None:
    gc: GroupCommit[str, tuple[str, int]] = GroupCommit(database, writer.run_one, writer.solo, linger=2.0)
    try:
        gate = hold_writer(gc, writer)
        busy = [gc.submit("a1"), gc.submit("a2")]  # queued behind the gate: the next batch holds two
        writer.gate.set()
        gate.result(timeout=10)
        for fut in busy:
            fut.result(timeout=10)
        first = gc.submit("b1")
        wait_for(gc._queue.empty, what="the writer to take b1")  # and find nothing after it
        second = gc.submit("b2")  # while it lingers
        first.result(timeout=10)
        second.result(timeout=10)
        assert writer.batches()[-1] == ["b1", "b2"]
    finally:
        gc.close()


def test_an_idle_writer_never_lingers(database: Database, writer: Writer) -> None:
    gc: GroupCommit[str, tuple[str, int]] = GroupCommit(database, writer.run_one, writer.solo, linger=60.0)
    try:
        for item in ("lone1", "lone2"):  # each a batch of one: no wait for company
            assert gc.submit(item).result(timeout=10)[0] == item
        assert writer.batches() == [["lone1"], ["lone2"]]
    finally:
        gc.close()


def test_a_database_that_cannot_be_reached_answers_callers_with_the_error() -> None:
    """The writer connects at its first write, inside the transaction: a database that is down
    fails that write (its callers get the error) instead of killing the writer with them waiting."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = Database(f"postgresql://postgres@127.0.0.1:{port}/nowhere")

    def solo(item: str) -> str:
        with db.write() as s:
            s.execute(text("SELECT 1"))
        return item

    gc: GroupCommit[str, str] = GroupCommit(db, lambda s, item: item, solo)
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError):
            gc.submit("lost?").result(timeout=30)
        with pytest.raises(sqlalchemy.exc.OperationalError):  # the writer still serves
            gc.submit("again").result(timeout=30)
    finally:
        gc.close()
        db.dispose()
