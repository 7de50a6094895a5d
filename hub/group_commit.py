"""Group commit: one writer thread runs queued writes together in shared transactions.

With one transaction per inbound message the commit (on PostgreSQL also the write lock, on SQLite
the single writer) is what limits throughput: measured in bench/RESULTS.md. Here callers submit
an item and wait; the writer takes whatever is queued (up to `max_batch`), runs each item in one
transaction, commits, and only then answers every caller, so "ack after commit" holds for each of
them. Nothing waits for a batch to fill: at low load a batch is one item and the latency is that
of a plain transaction.

Under load, though, waiting a little pays: with `linger`, a writer whose previous batch held more
than one item and that finds the queue empty waits that long (once) for more. At a steady half of
the hub's saturation rate nearly every commit held one message, and a commit's fixed costs (the
WAL pages every commit rewrites, the session, the statements) made each message cost twice its
CPU at saturation; 1 ms of linger gave batches of several messages, a quarter less CPU per
message and a shorter latency tail, for about 2 ms on the median (bench/RESULTS.md). A writer
idling into a lone message never lingers.

If the shared transaction fails (a bad item, a unique-key race with another process, a PostgreSQL
deadlock), it is rolled back as a whole and every item is run again on its own through `solo`, so
one bad item costs the others only time, never their message.

Callers on an event loop (`submit_async`) are answered with one wake-up of their loop per batch,
not one per item: under load that hop was a noticeable share of the hub's CPU.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from hub.db import Database

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class _Stop(enum.Enum):
    """What `close` puts in the queue after the last entry (an enum member, so mypy narrows on `is`)."""

    STOP = enum.auto()


_STOP = _Stop.STOP
# (item, future, the loop of an asyncio future or None for a concurrent.futures one)
_Entry = tuple[Any, Any, asyncio.AbstractEventLoop | None]


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On the caller's loop: hand each waiting coroutine its result (unless it gave up)."""
    for fut, result, exc in outcomes:
        if fut.done():
            continue
        if exc is None:
            fut.set_result(result)
        else:
            fut.set_exception(exc)


def _still_wanted(entry: _Entry) -> bool:
    _, fut, loop = entry
    if loop is not None:
        return not fut.cancelled()
    return bool(fut.set_running_or_notify_cancel())


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        db: Database,
        run_one: Callable[[Session, T], R],
        solo: Callable[[T], R],
        *,
        run_many: Callable[[Session, list[T]], list[R | Exception]] | None = None,
        max_batch: int = 100,
        name: str = "group-commit",
        linger: float = 0.0,
        rerun_if_unsure: Callable[[T], bool] | None = None,
    ) -> None:
        """`run_one(session, item)` runs one item inside the shared transaction; `run_many`, if
        given, a whole batch at once (fewer round trips), and may answer an item with the
        exception that item alone raises (bad input found before anything was written);
        `solo(item)` runs one item in its own transaction. `linger`: see the module's notes.
        `rerun_if_unsure(item)`: whether the item may be run again when the shared transaction
        failed at or after its COMMIT (a connection lost then: it may have committed). Safe for an
        item whose second run finds the first (a unique key); an item that is not gets the error
        instead. By default every item is rerun."""
        self.db = db
        self.run_one = run_one
        self.run_many = run_many
        self.solo = solo
        self.max_batch = max_batch
        self.name = name
        self.linger = linger
        self.rerun_if_unsure = rerun_if_unsure
        self._queue: queue.SimpleQueue[_Entry | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # counters, for tests and the curious
        self.items = 0

    def submit(self, item: T) -> Future[R]:
        """Queue `item`; the future completes after the transaction holding it committed."""
        future: Future[R] = Future()
        self._enqueue((item, future, None))
        return future

    async def submit_async(self, item: T) -> R:
        """`submit`, awaited on the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._enqueue((item, future, loop))
        return await future

    def close(self) -> None:
        """Finish what is queued, then stop the writer (a later submit starts a new one)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.put(_STOP)
            # The next writer gets a queue of its own: this one may still be draining this queue.
            self._queue = queue.SimpleQueue()
        thread.join()

    def _enqueue(self, entry: _Entry) -> None:
        # Under the lock: a close() between "a writer exists" and the put would otherwise leave
        # this item behind the stop mark, never answered.
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, args=(self._queue,), name=self.name,
                                                daemon=True)
                self._thread.start()
            self._queue.put(entry)

    def _loop(self, inbox: queue.SimpleQueue[_Entry | _Stop]) -> None:
        with self.db.pinned():
            self._serve(inbox)

    def _serve(self, inbox: queue.SimpleQueue[_Entry | _Stop]) -> None:
        busy = False
        while True:
            first = inbox.get()
            if first is _STOP:
                return
            batch: list[_Entry] = [first]
            stop = False
            lingered = not busy or self.linger <= 0  # linger only under load
            while len(batch) < self.max_batch:
                try:
                    more = inbox.get_nowait()
                except queue.Empty:
                    if lingered:
                        break
                    lingered = True
                    time.sleep(self.linger)
                    continue
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            # A caller that gave up before its turn (a cancelled future) is not written at all.
            busy = len(batch) > 1
            live = [entry for entry in batch if _still_wanted(entry)]
            if live:
                try:
                    self._answer(live, self._run(live))
                except Exception as exc:  # never let the writer die with callers waiting
                    logger.exception("group commit writer failed on a batch; its callers get the error")
                    self._answer(live, [(None, exc)] * len(live))
            if stop:
                return

    def _run(self, batch: list[_Entry]) -> list[tuple[Any, BaseException | None]]:
        unsure: Exception | None = None  # the shared COMMIT failed: it may have committed
        if len(batch) > 1:
            ran = False
            try:
                with self.db.write() as session:
                    items = [item for item, _, _ in batch]
                    if self.run_many is not None:
                        results = self.run_many(session, items)
                    else:
                        results = [self.run_one(session, item) for item in items]
                    ran = True
            except Exception as exc:
                logger.info("a batch of %d failed (%s); running its items one by one", len(batch), exc)
                if ran:
                    unsure = exc
            else:
                self.batches += 1
                self.items += len(batch)
                return [(None, r) if isinstance(r, Exception) else (r, None) for r in results]
        outcomes: list[tuple[Any, BaseException | None]] = []
        for item, _, _ in batch:
            if unsure is not None and self.rerun_if_unsure is not None and not self.rerun_if_unsure(item):
                outcomes.append((None, unsure))
                continue
            try:
                outcomes.append((self.solo(item), None))
            except Exception as exc:  # the caller re-raises it; the writer carries on
                outcomes.append((None, exc))
            else:
                self.batches += 1
                self.items += 1
        return outcomes

    def _answer(self, batch: list[_Entry], outcomes: list[tuple[Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]]
        by_loop = defaultdict(list)
        for (_, fut, loop), (result, exc) in zip(batch, outcomes, strict=True):
            if loop is not None:
                by_loop[loop].append((fut, result, exc))
            elif fut.done():
                continue
            elif exc is None:
                fut.set_result(result)
            else:
                fut.set_exception(exc)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:
                pass  # that loop is closed: nobody is left to answer
