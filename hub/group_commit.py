"""Group commit: one writer thread runs queued writes together in shared transactions.

With one transaction per inbound message the commit (on PostgreSQL also the write lock, on SQLite
the single writer) is what limits throughput: measured in bench/RESULTS.md. Here callers submit
an item and wait on a future; the writer takes whatever is queued (up to `max_batch`), runs each
item in one transaction, commits, and only then answers every caller, so "ack after commit" holds
for each of them. Nothing waits for a batch to fill: at low load a batch is one item and the
latency is that of a plain transaction.

If the shared transaction fails (a bad item, a unique-key race with another process, a PostgreSQL
deadlock), it is rolled back as a whole and every item is run again on its own through `solo`, so
one bad item costs the others only time, never their message.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from sqlmodel import Session

from hub.db import Database

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_STOP = object()


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        db: Database,
        run_one: Callable[[Session, T], R],
        solo: Callable[[T], R],
        *,
        max_batch: int = 100,
        name: str = "group-commit",
    ) -> None:
        self.db = db
        self.run_one = run_one
        self.solo = solo
        self.max_batch = max_batch
        self.name = name
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # counters, for tests and the curious
        self.items = 0

    def submit(self, item: T) -> Future[R]:
        """Queue `item`; the future completes after the transaction holding it committed."""
        future: Future[R] = Future()
        self._ensure_thread()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the writer (a later submit starts a new one)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.put(_STOP)
        thread.join()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            # A caller that gave up before its turn (cancelled) is not written at all.
            live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]  # type: ignore[misc]
            if live:
                self._run(live)
            if stop:
                return

    def _run(self, batch: list[tuple[T, Future[R]]]) -> None:
        if len(batch) > 1:
            try:
                with self.db.write() as session:
                    results = [self.run_one(session, item) for item, _ in batch]
            except Exception as exc:
                logger.info("a batch of %d failed (%s); running its items one by one", len(batch), exc)
            else:
                self.batches += 1
                self.items += len(batch)
                for (_, fut), result in zip(batch, results, strict=True):
                    fut.set_result(result)
                return
        for item, fut in batch:
            try:
                result = self.solo(item)
            except BaseException as exc:  # the caller re-raises it; the writer carries on
                fut.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                self.batches += 1
                self.items += 1
                fut.set_result(result)
