"""Telling a waiting visitor their place in the queue (issue 16: "the customer sees their place in
the queue and an estimated wait").

One `QueueWatch` per visitor socket. It asks the hub (`HubPort.queue_status_async`) when poked
(the visitor wrote, or their feed was replayed after a reconnect) and then every `interval`
seconds for as long as the conversation waits; it sends a `queue` frame only when what the
visitor would read changes (place, or the estimate in whole minutes). When an agent takes the
conversation (or it is resolved) it sends one last frame with `position` null and stops asking.
The browser never asks: the server sets the pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from hub.ports import HubPort, QueueStatus

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]


def queue_frame(conversation_id: int, status: QueueStatus | None) -> dict[str, Any]:
    """`{"type": "queue", "conversation_id", "position", "wait_minutes"}`: position null when the
    conversation no longer waits; wait_minutes null when the hub has no honest estimate."""
    if status is None:
        return {"type": "queue", "conversation_id": conversation_id, "position": None, "wait_minutes": None}
    minutes = None if status.wait_seconds is None else max(1, math.ceil(status.wait_seconds / 60))
    return {"type": "queue", "conversation_id": conversation_id, "position": status.position,
            "wait_minutes": minutes}


class QueueWatch:
    def __init__(self, port: HubPort, send: Send, interval: float) -> None:
        self.port, self.send, self.interval = port, send, interval
        self.conversation_id: int | None = None
        self.last: dict[str, Any] | None = None  # the last frame sent
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self, conversation_id: int) -> None:
        """Ask again now (the visitor wrote in this conversation, or came back)."""
        if conversation_id != self.conversation_id:
            self.conversation_id, self.last = conversation_id, None
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"webchat-queue-{conversation_id}")

    async def ended(self, conversation_id: int) -> None:
        """An agent took the conversation, or it was resolved: it no longer waits."""
        if conversation_id != self.conversation_id:
            return
        await self.close()
        if self.last is not None and self.last["position"] is not None:
            await self._tell(queue_frame(conversation_id, None))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            await self._follow()
        except Exception as exc:  # the socket closed, or the hub failed: the next poke asks again
            logger.debug("web chat queue place of conversation %s: %r", self.conversation_id, exc)

    async def _follow(self) -> None:
        while (conversation_id := self.conversation_id) is not None:
            self._wake.clear()
            status = await self.port.queue_status_async(conversation_id)
            if conversation_id != self.conversation_id:
                continue  # a newer conversation was poked meanwhile
            if status is not None or (self.last is not None and self.last["position"] is not None):
                await self._tell(queue_frame(conversation_id, status))
            if status is None:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def _tell(self, frame: dict[str, Any]) -> None:
        if frame != self.last:
            self.last = frame
            await self.send(frame)
