"""Cross-process wake-ups through Redis pub/sub.

A message says only "the log moved"; every node then reads the log itself. A lost message costs at
most one poll interval of latency, never an event.
"""

from __future__ import annotations

import asyncio
import logging

import redis
import redis.asyncio as aioredis

from hub.events.fanout import EventBus
from hub.tasks import cancel_and_wait

logger = logging.getLogger(__name__)


class RedisWaker:
    def __init__(self, url: str, prefix: str, bus: EventBus) -> None:
        self.channel = f"{prefix}events"
        self.bus = bus
        self._url = url
        # Published from the committing thread (the ingest writer): a short timeout keeps a slow
        # or unreachable Redis from holding up every commit (a lost wake-up only costs latency).
        self._sync = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._task: asyncio.Task[None] | None = None

    def publish(self) -> None:
        self._sync.publish(self.channel, b"1")

    async def start(self) -> None:
        client = aioredis.Redis.from_url(self._url)
        await client.ping()  # fail at start-up, not silently, if Redis is configured but absent
        await client.aclose()
        self._task = asyncio.create_task(self._listen(), name="redis-wake-listener")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._sync.close()

    async def _listen(self) -> None:
        while True:
            client = aioredis.Redis.from_url(self._url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    # Subscribed: anything committed elsewhere meanwhile is picked up by this read.
                    self.bus.wake()
                    async for msg in pubsub.listen():
                        if msg.get("type") == "message":
                            self.bus.wake()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("redis listener lost its connection; reconnecting", exc_info=True)
                await asyncio.sleep(1.0)
            finally:
                await client.aclose()
