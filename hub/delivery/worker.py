"""The delivery worker: claims due outbox rows with a lease, sends them, records the outcome.

Claiming (hub.delivery.claim): on PostgreSQL `FOR UPDATE SKIP LOCKED`, so several workers never
take the same row; on SQLite the write transaction itself is exclusive. A claimed row gets a short
lease (setting `delivery_lease_seconds`, 10 s) that the worker renews while it is alive (every
third of the lease, one UPDATE for all its rows in flight), however long a send takes. If the worker dies
mid-send, nobody renews: the lease runs out within seconds and another worker sends it again
(at-least-once toward the provider, which is why adapters pass our outbox id where providers
accept an idempotency key). With a fixed 60 s lease, replies claimed by a killed process waited
most of a minute. Leases compare each process's clock with the stored time: hosts must keep their
clocks within a fraction of the lease of each other.

In a running hub, claims and outcomes go through the hub's writer (`write`, i.e.
`Hub.write_async`), in the transactions it shares with inbound messages, instead of two
transactions of their own per reply: with agents replying at 15 a second those queued for the
write lock between the writer's batches (on SQLite the claim too: one writer at a time), each
with its own BEGIN and COMMIT and a thread hop, and cost inbound messages a share of their
throughput (bench/RESULTS.md, "Mixed load"). Both are safe to run twice after an uncertain
COMMIT: recording only moves a row still in flight; a second claim finds the rows the first took
leased, so nobody sends them until the lease runs out (then once). Without `write` (a worker on
its own), each runs in a transaction of its own on a worker thread, the claim without the write
lock (it appends no event).

Never sent twice after an acceptance this worker saw: an item whose adapter mints a send key
(email's Message-ID, stored with the row by its first claim: hub.delivery.outbound) is sent
under that key on every attempt. When the provider accepted it, the worker holds the key and the
answer (`accepted`) until the outcome is committed; if recording the outcome fails (the
database, the writer), the row stays in flight, its lease lapses, and the worker's next claim of
it records the held answer instead of sending again. What this cannot cover is the process dying
between the provider's acceptance and the commit: the row is still in flight when its lease
lapses, and the claim that takes it over tells the adapter (`OutboundMessage.outcome_unknown`),
which may look whether the provider has it (email: the mailbox's Sent folder) before sending
again under the same key (email: the same Message-ID, so the customer's client shows one mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import tuple_, update
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.db import Database
from hub.delivery import actions
from hub.delivery.claim import OUTCOME_UNKNOWN, claim
from hub.delivery.hand_over import do_hand_over
from hub.delivery.outbound import outbound_items
from hub.delivery.sent import do_record_sent
from hub.outbox.models import OutboxItem
from hub.ports import (
    ChannelAdapter,
    Outbound,
    OutboundMessage,
    OutcomeUnknown,
    PermanentError,
    SendError,
    SendResult,
    TransientError,
)
from hub.tasks import cancel_and_wait

logger = logging.getLogger(__name__)
# Runs `op(session)` in a write transaction holding the write lock, and returns what it returns.
Write = Callable[[Callable[[Session], Any]], Awaitable[Any]]
# Acceptances whose outcome is not committed yet, at most this many (the oldest are forgotten).
MAX_HELD = 10_000


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        adapters: dict[str, ChannelAdapter],
        *,
        poll_interval: float = 1.0,
        lease: timedelta = timedelta(seconds=10),
        renew_every: float | None = None,
        max_attempts: int = 8,
        batch_size: int = 20,
        write: Write | None = None,
    ) -> None:
        """`renew_every`: how often claims in flight are renewed (seconds; a third of the lease by
        default, so two renewals in a row may fail before another worker takes over). `write`:
        where claims and outcomes run (the hub's writer: see the module's notes); by default each
        in a transaction of its own on a worker thread."""
        self.db = db
        self.adapters = adapters
        self.poll_interval = poll_interval
        self.lease = lease
        self.renew_every = renew_every if renew_every is not None else lease.total_seconds() / 3
        self.renewals = 0  # transactions that renewed leases, for tests and the curious
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self._write = write
        # (channel, send key) -> the provider's answer, until its outcome is committed.
        self.accepted: OrderedDict[tuple[str, str], SendResult] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def wake(self) -> None:
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                # Another pass at once only after a full batch: fewer rows means nothing else was
                # due, and what is queued later wakes the worker (an empty claim is a write
                # transaction, on SQLite behind the one write lock).
                while await self.run_once() >= self.batch_size:
                    pass
            except Exception:
                logger.exception("delivery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim and send one batch; returns how many rows were handled."""
        if self._write is not None:
            claimed, outbound = await self._write(self._claim_in)
        else:
            claimed, outbound = await asyncio.to_thread(self._claim)
        if not claimed:
            return 0
        # Each claim is its row and the attempt number it took: a row another worker claimed
        # after us (our lease lapsed) is no longer ours to renew.
        held = {item.id: item.attempts for item in claimed}
        heartbeat = asyncio.create_task(self._keep_leases(held), name="delivery-leases")
        try:
            await asyncio.gather(*(self._deliver(item, out, held) for item, out in zip(claimed, outbound, strict=True)))
        finally:
            await cancel_and_wait(heartbeat)
        return len(claimed)

    async def _keep_leases(self, held: dict[int | None, int]) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            if not held:
                return
            try:
                await asyncio.to_thread(self._renew, dict(held))
            except Exception:  # the next renewal may get through before the lease runs out
                logger.exception("renewing delivery leases failed")

    def _renew(self, held: dict[int | None, int]) -> None:
        with self.db.write(serialize=False) as s:  # appends no event, as claiming
            s.execute(
                update(OutboxItem)
                .where(tuple_(OutboxItem.id, OutboxItem.attempts).in_(list(held.items())),
                       col(OutboxItem.status) == "in_flight")
                .values(lease_until=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )
        self.renewals += 1

    def _claim(self) -> tuple[list[OutboxItem], list[Outbound]]:
        # Claiming appends no events: no need to queue behind the write lock (SKIP LOCKED suffices).
        with self.db.write(serialize=False) as s:
            return self._claim_in(s)

    def _claim_in(self, s: Session) -> tuple[list[OutboxItem], list[Outbound]]:
        items, keys = claim(s, list(self.adapters), self.batch_size, self.lease)
        unknown = {item.id for item in items if (item.last_error or "").startswith(OUTCOME_UNKNOWN)}
        return items, outbound_items(s, items, self.adapters, keys=keys, outcome_unknown=unknown)

    async def _deliver(self, item: OutboxItem, out: Outbound, held: dict[int | None, int]) -> None:
        try:
            await self._send(item, out)
        finally:
            held.pop(item.id, None)

    async def _send(self, item: OutboxItem, out: Outbound) -> None:
        key = (item.channel, out.send_key) if isinstance(out, OutboundMessage) and out.send_key else None
        if key is not None and key in self.accepted:  # accepted before, its outcome not recorded
            logger.warning("%s: outbox item %s was accepted already as %s: recorded, not sent again",
                           item.channel, item.id, key[1])
            await self._finish(item.id, "sent", None, self.accepted[key])
            self.accepted.pop(key, None)
            return
        adapter = self.adapters[item.channel]
        try:
            result = await adapter.send(out)
        except PermanentError as exc:
            await self._finish(item.id, "failed", str(exc), None, _why(exc))
        except OutcomeUnknown as exc:  # the claim of the retry tells the adapter (outcome_unknown)
            await self._finish(item.id, "retry", f"{OUTCOME_UNKNOWN}: {exc}", None)
        except TransientError as exc:
            await self._finish(item.id, "retry", str(exc), None, _why(exc))
        except Exception as exc:  # an adapter bug must not lose the message: retry, and say why
            logger.exception("adapter %s raised unexpectedly", item.channel)
            await self._finish(item.id, "retry", f"internal error: {exc!r}", None)
        else:
            if key is not None:  # held until the outcome below is committed
                self.accepted[key] = result
                while len(self.accepted) > MAX_HELD:
                    self.accepted.popitem(last=False)
            await self._finish(item.id, "sent", None, result)
            if key is not None:
                self.accepted.pop(key, None)

    async def _finish(self, item_id: int | None, outcome: str, error: str | None, result: SendResult | None,
                      why: dict[str, Any] | None = None) -> None:
        def record(s: Session) -> None:
            assert item_id is not None
            if outcome == "sent":  # recorded only while still in flight (not by a rerun)
                assert result is not None
                recorded = do_record_sent(s, item_id, result.provider_id, result.status or "sent", result.thread_keys)
                if recorded and result.hand_over:  # not reachable there now: another channel may carry it
                    sent = s.get(OutboxItem, item_id)
                    if sent is not None:
                        do_hand_over(s, sent, result.hand_over, self.adapters)
                return
            item = s.get(OutboxItem, item_id)
            if item is None or item.status != "in_flight":
                return  # recorded already (a rerun), or no longer ours
            if outcome == "failed":
                actions.do_record_failed(s, item, error or "failed", why=why)
            else:
                actions.do_record_retry(s, item, error or "transient error", max_attempts=self.max_attempts, why=why)

        if self._write is not None:
            await self._write(record)
        else:
            await asyncio.to_thread(self._record_alone, record)

    def _record_alone(self, record: Callable[[Session], None]) -> None:
        with self.db.write() as s:
            record(s)


def _why(exc: SendError) -> dict[str, Any] | None:
    """A send error's stable reason and params (hub.delivery.actions keeps them with its words)."""
    return {"reason": exc.reason, "params": dict(exc.params)} if exc.reason else None
