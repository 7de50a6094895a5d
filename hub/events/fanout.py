"""Live fan-out inside one process: a single tail reader follows the event log and hands new
events to every subscribed socket.

Wake-ups (a local commit, a Redis message from another node, or a periodic poll as a safety net)
only tell the reader to look; the rows it reads from the log are the truth. Because ids commit in
order (see hub.events.log), reading `id > cursor` never skips a row.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from hub.db import Database
from hub.events import log
from hub.events.log import EventView

logger = logging.getLogger(__name__)


class Subscription:
    """A socket's mailbox. If the socket falls too far behind it is marked overflowed and must
    catch up from the database instead (it loses nothing, it just reads the log again). A getter
    waiting at that moment is woken with an empty batch, so one `get()` is all a reader awaits."""

    def __init__(self, max_pending: int) -> None:
        self.queue: asyncio.Queue[list[EventView]] = asyncio.Queue()
        self.max_pending = max_pending
        self.pending = 0
        self.overflowed = asyncio.Event()

    def _offer(self, batch: list[EventView]) -> None:
        if self.overflowed.is_set():
            return
        if self.pending + len(batch) > self.max_pending:
            self.overflowed.set()
            self.queue.put_nowait([])
            return
        self.pending += len(batch)
        self.queue.put_nowait(batch)

    async def get(self) -> list[EventView]:
        batch = await self.queue.get()
        self.pending -= len(batch)
        return batch


class EventBus:
    """The tail reader runs on a thread of its own: a wake-up is a `threading.Event`, each batch
    read is handed to the event loop with one `call_soon_threadsafe`, in read order. (A thread-pool
    hop per read, `asyncio.to_thread`, was a visible share of the CPU per message under load.)"""

    def __init__(self, db: Database, *, poll_interval: float = 1.0, batch_size: int = 1000) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.cursor = 0
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[list[EventView]], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_local_commit: list[Callable[[], None]] = []

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.cursor = await asyncio.to_thread(self._head)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="event-bus-tail", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        await asyncio.to_thread(thread.join)

    def _head(self) -> int:
        with self.db.read() as s:
            return log.head_id(s)

    def committed(self) -> None:
        """Called (from any thread) after this process committed events."""
        self.wake()
        for hook in self.on_local_commit:
            try:
                hook()
            except Exception:  # a lost wake-up is covered by polling; never fail the write
                logger.exception("wake-up hook failed")

    def wake(self) -> None:
        """Thread-safe: ask the tail reader to look at the log now."""
        self._wake.set()

    def subscribe(self, max_pending: int = 10_000) -> Subscription:
        sub = Subscription(max_pending)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def listen(self, listener: Callable[[list[EventView]], None]) -> Callable[[], None]:
        """Call `listener(batch)` on the event loop with every batch, in order, for a fan-out of its
        own (hub.conversations.customer_fanout); returns what stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _deliver(self, batch: list[EventView]) -> None:
        """On the event loop."""
        for listener in list(self._listeners):
            try:
                listener(batch)
            except Exception:  # one listener's bug must not starve the sockets
                logger.exception("event bus listener failed")
        for sub in list(self._subs):
            sub._offer(batch)

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        # One connection for the thread's life, in autocommit: a read is one statement (ids commit
        # in order, hub.events.log), so it needs no transaction, and no pool checkout either.
        conn: Connection | None = None
        cursor: Any = None
        paramstyle = self.db.engine.dialect.paramstyle
        try:
            while not self._stopping.is_set() and not loop.is_closed():
                self._wake.wait(timeout=self.poll_interval)
                self._wake.clear()
                try:
                    while not self._stopping.is_set():
                        if conn is None:
                            conn = self.db.autocommit_connection()
                            driver = conn.connection.driver_connection
                            assert driver is not None  # a connection just checked out has one
                            cursor = driver.cursor()
                        batch = log.read_after_cursor(cursor, paramstyle, self.cursor, self.batch_size)
                        if not batch:
                            break
                        self.cursor = batch[-1].id
                        if loop.is_closed():
                            return
                        loop.call_soon_threadsafe(self._deliver, batch)
                        if len(batch) < self.batch_size:
                            break
                except Exception:
                    logger.exception("event tail read failed; retrying with a new connection")
                    if conn is not None:
                        conn.invalidate()
                        conn.close()
                        conn = cursor = None
                    self._stopping.wait(self.poll_interval)
        finally:
            if conn is not None:
                conn.close()
