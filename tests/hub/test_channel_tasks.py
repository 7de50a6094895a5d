"""A channel's inbound task that fails is started again with backoff, and admins see its state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.channel_tasks import Backoff, ChannelTasks, TaskState

NOW = datetime(2030, 1, 1, tzinfo=UTC)


class Clock:
    """Monotonic time the test moves, and a sleep that returns at once (recording the delay) or,
    once `hold` is set, waits until cancelled."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []
        self.hold = False

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.hold:
            await asyncio.Event().wait()
        await asyncio.sleep(0)


def supervisor(clock: Clock) -> ChannelTasks:
    return ChannelTasks(sleep=clock.sleep, monotonic=clock.monotonic, now=lambda: NOW)


async def until(check: Callable[[], Any], what: str) -> Any:
    """Yield to the loop until `check()` holds (no wall-clock sleeps)."""
    for _ in range(10_000):
        if result := check():
            return result
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


async def forever() -> None:
    await asyncio.Event().wait()


def only_task(tasks: ChannelTasks) -> TaskState:
    [channel] = tasks.states()
    [state] = channel.tasks
    return state


def failing(times: int | None, *, then: Callable[[], Awaitable[None]] | None = None,
            clock: Clock | None = None, runs_for: float = 0.0) -> tuple[Callable[[], Awaitable[None]], list[int]]:
    calls: list[int] = []

    async def run() -> None:
        calls.append(1)
        if clock is not None:
            clock.t += runs_for
        if times is None or len(calls) <= times:
            raise ConnectionError(f"mailbox refused us (try {len(calls)})")
        if then is not None:
            await then()

    return run, calls


def test_the_backoff_doubles_from_one_second_to_a_minute() -> None:
    assert [Backoff().delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert Backoff().delay(10_000) == 60


def test_a_failing_task_is_restarted_with_growing_delays_and_its_last_error_is_shown() -> None:
    async def scenario() -> None:
        clock = Clock()
        tasks = supervisor(clock)
        run, calls = failing(None)
        tasks.runner("email").spawn("imap", run)
        await until(lambda: len(clock.slept) >= 8, "eight restarts")
        assert clock.slept[:8] == [1, 2, 4, 8, 16, 32, 60, 60]
        clock.hold = True
        await until(lambda: only_task(tasks).state == "restarting" and len(clock.slept) >= 9, "a held backoff")
        state = only_task(tasks)
        assert state.last_error == f"ConnectionError: mailbox refused us (try {len(calls)})"
        assert state.restarts == len(calls) - 1
        assert state.restart_at == NOW + timedelta(seconds=60)
        await tasks.stop()
        assert only_task(tasks).state == "stopped" and only_task(tasks).restart_at is None

    asyncio.run(scenario())


def test_after_a_run_of_a_minute_the_delay_starts_again_at_one_second() -> None:
    async def scenario() -> None:
        clock = Clock()
        tasks = supervisor(clock)
        runs = iter([0, 0, 0, 61, 0, 0])

        async def run() -> None:
            clock.t += next(runs, 0)
            raise OSError("connection reset")

        tasks.runner("email").spawn("imap", run)
        await until(lambda: len(clock.slept) >= 6, "six restarts")
        assert clock.slept[:6] == [1, 2, 4, 1, 2, 4]
        await tasks.stop()

    asyncio.run(scenario())


def test_a_task_that_recovers_stays_running_and_counts_its_restarts() -> None:
    async def scenario() -> None:
        clock = Clock()
        tasks = supervisor(clock)
        connected = asyncio.Event()

        async def serve() -> None:
            connected.set()
            await asyncio.Event().wait()

        run, calls = failing(2, then=serve)
        tasks.runner("webchat").spawn("socket-hub", run)
        await until(connected.is_set, "the third try to connect")
        state = only_task(tasks)
        assert (state.state, state.restarts, state.restart_at) == ("running", 2, None)
        assert state.last_error == "ConnectionError: mailbox refused us (try 2)"  # kept for admins
        await tasks.stop_channel("webchat")
        assert only_task(tasks).state == "stopped"
        assert len(calls) == 3

    asyncio.run(scenario())


def test_a_task_that_returns_is_started_again() -> None:
    async def scenario() -> None:
        clock = Clock()
        tasks = supervisor(clock)
        calls: list[int] = []

        async def run() -> None:
            calls.append(1)

        tasks.runner("email").spawn("imap", run)
        await until(lambda: len(calls) >= 3, "three runs")
        assert only_task(tasks).last_error is not None and "ended" in only_task(tasks).last_error  # type: ignore[operator]
        await tasks.stop()

    asyncio.run(scenario())


def test_stopping_cancels_running_and_waiting_tasks_and_nothing_starts_after() -> None:
    async def scenario() -> None:
        clock = Clock()
        clock.hold = True
        tasks = supervisor(clock)
        runner = tasks.runner("email")
        runner.spawn("idle", forever)
        run, _ = failing(None)
        runner.spawn("flaky", run)
        tasks.runner("sms")  # a channel with no tasks is listed too
        await until(lambda: [t.state for t in tasks.states()[0].tasks] == ["running", "restarting"], "both states")
        before = len(asyncio.all_tasks())
        await tasks.stop()
        await tasks.stop()  # twice is fine
        assert [(c.channel, [t.state for t in c.tasks]) for c in tasks.states()] == [
            ("email", ["stopped", "stopped"]), ("sms", [])]
        assert len(asyncio.all_tasks()) == before - 2
        with pytest.raises(RuntimeError, match="stopped"):
            runner.spawn("late", forever)

    asyncio.run(scenario())


def test_a_task_name_is_unique_within_its_channel() -> None:
    async def scenario() -> None:
        tasks = supervisor(Clock())
        tasks.runner("email").spawn("imap", forever)
        tasks.runner("webchat").spawn("imap", forever)  # another channel's is another task
        with pytest.raises(ValueError, match="already runs"):
            tasks.runner("email").spawn("imap", forever)
        await tasks.stop()

    asyncio.run(scenario())
