"""The channels' inbound tasks (an IMAP poller, a socket's reader), supervised.

A task that raises is started again after a backoff: 1 s, doubling up to 60 s, and back to 1 s once
a run lasted a minute (a connection that drops every few hours is not penalised for yesterday's
drops). A task that returns is restarted the same way: inbound work runs until its channel stops.
Each task's state (running, restarting at, stopped; restarts; the last error's text) is what
/readyz and `GET /api/v1/admin/channels` show. The registry (config/channels.py) hands each adapter
its `runner(channel)` at start and calls `stop_channel` before the adapter's `stop()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from hub.clock import utcnow
from hub.ports import TaskRunner
from hub.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

State = Literal["running", "restarting", "stopped"]


@dataclass(frozen=True)
class Backoff:
    first: float = 1.0
    longest: float = 60.0
    healthy_after: float = 60.0  # a run this long resets the delay to `first`

    def delay(self, failures: int) -> float:
        """The wait before the next start, after `failures` failed runs in a row (>= 1)."""
        return min(self.longest, self.first * 2 ** min(failures - 1, 30))


@dataclass(frozen=True)
class TaskState:
    name: str
    state: State
    restarts: int
    last_error: str | None
    restart_at: datetime | None  # when `restarting`


@dataclass(frozen=True)
class ChannelState:
    channel: str
    tasks: tuple[TaskState, ...]


@dataclass
class _Entry:
    name: str
    state: State = "running"
    restarts: int = 0
    last_error: str | None = None
    restart_at: datetime | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def snapshot(self) -> TaskState:
        return TaskState(self.name, self.state, self.restarts, self.last_error, self.restart_at)


class ChannelTasks:
    """Every channel's tasks. `sleep`, `monotonic` and `now` are injectable for tests."""

    def __init__(self, *, backoff: Backoff | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._monotonic = monotonic
        self._now = now
        self._channels: dict[str, dict[str, _Entry]] = {}
        self._stopped: set[str] = set()

    def runner(self, channel: str) -> TaskRunner:
        """What `channel`'s adapter gets at start; the channel is listed from now on."""
        self._channels.setdefault(channel, {})
        self._stopped.discard(channel)
        return _Runner(self, channel)

    def spawn(self, channel: str, name: str, run: Callable[[], Awaitable[None]]) -> None:
        if channel in self._stopped:
            raise RuntimeError(f"the {channel} channel is stopped: it cannot start {name!r}")
        tasks = self._channels.setdefault(channel, {})
        if name in tasks and tasks[name].state != "stopped":
            raise ValueError(f"the {channel} channel already runs a task named {name!r}")
        entry = tasks[name] = _Entry(name)
        entry.task = asyncio.create_task(self._supervise(channel, entry, run), name=f"channel-{channel}-{name}")

    def states(self) -> list[ChannelState]:
        """Each channel (in the order they were listed) with its tasks (in the order spawned)."""
        return [ChannelState(channel, tuple(e.snapshot() for e in tasks.values()))
                for channel, tasks in self._channels.items()]

    async def stop_channel(self, channel: str) -> None:
        """Cancel the channel's tasks and wait until they have finished; nothing restarts them."""
        self._stopped.add(channel)
        for entry in self._channels.get(channel, {}).values():
            await cancel_and_wait(entry.task)
            entry.state, entry.restart_at = "stopped", None

    async def stop(self) -> None:
        for channel in list(self._channels):
            await self.stop_channel(channel)

    async def _supervise(self, channel: str, entry: _Entry, run: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        while True:
            entry.state, entry.restart_at = "running", None
            began = self._monotonic()
            try:
                await run()
                error = "the task ended (inbound work runs until its channel stops)"
                logger.warning("channel %s: task %s ended; starting it again", channel, entry.name)
            except Exception as exc:  # CancelledError (the channel stopping) is not an Exception
                error = f"{exc.__class__.__name__}: {exc}"[:500]
                logger.exception("channel %s: task %s failed; starting it again", channel, entry.name)
            if self._monotonic() - began >= self.backoff.healthy_after:
                failures = 0
            failures += 1
            delay = self.backoff.delay(failures)
            entry.state, entry.last_error = "restarting", error
            entry.restart_at = self._now() + timedelta(seconds=delay)
            await self._sleep(delay)
            entry.restarts += 1


@dataclass(frozen=True)
class _Runner:
    tasks: ChannelTasks
    channel: str

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self.tasks.spawn(self.channel, name, run)
