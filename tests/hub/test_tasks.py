"""Stopping background tasks, also ones that swallow a cancellation once."""

from __future__ import annotations

import asyncio

from hub.tasks import cancel_and_wait


def test_a_task_that_swallows_a_cancellation_is_still_stopped() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed == 0:  # as wait_for does on 3.11 when its future completes meanwhile
                    swallowed += 1
                    continue
                raise

    async def scenario() -> bool:
        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait(task), timeout=10)
        return task.cancelled()

    assert asyncio.run(scenario())
    assert swallowed == 1
