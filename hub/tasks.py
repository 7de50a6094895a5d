"""Background asyncio tasks: the one way the hub stops them."""

from __future__ import annotations

import asyncio
import contextlib

# On Python 3.11, `asyncio.wait_for` swallows a cancellation that arrives just as the awaited
# future completes (fixed in 3.12): a loop built on it (the routing service) then carries on, and
# a single cancel() waits for it forever. One test's shutdown hung so for 180 s.
_RECANCEL_SECONDS = 0.1


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait until it has really finished (None is fine); cancel it
    again for as long as it carries on."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_RECANCEL_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        await task
