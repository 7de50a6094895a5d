"""An in-memory `HubPort` (no database) and a `TaskRunner` that restarts at once: a channel is
written and tested against these first (tests/fakes/contract.py), then against the real hub.

What adapters hand in is recorded: `ingested` (first copies, in order), `delivery_updates`,
`opt_outs`; `send` records what an adapter made of an outgoing item, as the delivery worker would.
`fail_next` makes the next ingests fail the way a database restart does.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hub.channel_tasks import Backoff, ChannelTasks, TaskState
from hub.ports import (
    ChannelAdapter,
    DeliveryUpdate,
    HubPort,
    InboundMessage,
    IngestResult,
    OutboundMessage,
    PermanentError,
    SendResult,
    TransientError,
)


@dataclass(frozen=True)
class Sent:
    """What an adapter made of an outgoing item: its result, or the port error it raised."""

    item: OutboundMessage
    result: SendResult | None
    error: TransientError | PermanentError | None


class FakeHubPort(HubPort):
    def __init__(self, *, api_keys: tuple[str, ...] = ()) -> None:
        self.api_keys = set(api_keys)
        self.ingested: list[InboundMessage] = []
        self.delivery_updates: list[DeliveryUpdate] = []
        self.opt_outs: dict[str, tuple[bool, str]] = {}  # phone -> (opted out, keyword)
        self.sent: list[Sent] = []
        self._results: dict[tuple[str, str], IngestResult] = {}
        self._conversations: dict[tuple[str, str, str], int] = {}  # (channel, source, sender) -> id
        self._contacts: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._failures: list[Exception] = []

    def fail_next(self, times: int = 1, error: Exception | None = None) -> None:
        """The next `times` ingests raise `error` (default: the database is restarting)."""
        self._failures.extend([error or ConnectionError("the database is restarting")] * times)

    # -- HubPort -------------------------------------------------------------------------------

    def ingest(self, message: InboundMessage) -> IngestResult:
        if self._failures:
            raise self._failures.pop(0)
        key = (message.ingest_scope, message.external_id)
        if (first := self._results.get(key)) is not None:
            return IngestResult(first.message_id, first.conversation_id, first.contact_id, created=False)
        c = message.contact
        sender = c.email or c.phone or c.external_ref or ""
        contact_id = self._contacts.setdefault(sender, len(self._contacts) + 1)
        conversation_id = message.thread_conversation_id or self._conversations.setdefault(
            (message.channel, message.source, sender), len(self._conversations) + 1)
        result = self._results[key] = IngestResult(next(self._ids), conversation_id, contact_id, created=True)
        self.ingested.append(message)
        return result

    async def ingest_async(self, message: InboundMessage) -> IngestResult:
        await asyncio.sleep(0)  # a hand-off, as the real writer's
        return self.ingest(message)

    def check_api_key(self, secret: str) -> bool:
        return secret in self.api_keys

    async def check_api_key_async(self, secret: str) -> bool:
        return self.check_api_key(secret)

    def apply_delivery_update(self, update: DeliveryUpdate) -> bool:
        self.delivery_updates.append(update)
        return True

    def set_sms_opt_out(self, phone: str, opted_out: bool, *, keyword: str) -> None:
        self.opt_outs[phone] = (opted_out, keyword)

    # -- the delivery worker's side ------------------------------------------------------------

    async def send(self, adapter: ChannelAdapter, item: OutboundMessage) -> Sent:
        """`adapter.send(item)`, recorded. Anything but a `SendResult` or a port error raises."""
        try:
            sent = Sent(item, await adapter.send(item), None)
        except (TransientError, PermanentError) as exc:
            sent = Sent(item, None, exc)
        self.sent.append(sent)
        return sent


class FakeTaskRunner:
    """Runs what an adapter spawns the way the hub does (hub.channel_tasks), restarting a failed
    task at once instead of after a backoff."""

    def __init__(self, channel: str = "fake") -> None:
        self.tasks = ChannelTasks(backoff=Backoff(first=0.0, longest=0.0))
        self.channel = channel
        self._runner = self.tasks.runner(channel)

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self._runner.spawn(name, run)

    def states(self) -> tuple[TaskState, ...]:
        [channel] = self.tasks.states()
        return channel.tasks

    async def stop(self) -> None:
        await self.tasks.stop()
