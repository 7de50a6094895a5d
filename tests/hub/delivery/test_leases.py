"""Delivery claims (hub.delivery.worker): a dead worker's claim is taken over within its short
lease; a live worker renews its leases, so a slow send is never sent again by another worker.

Workers here run their passes by hand (`run_once`); the "dead" one claims and then does nothing,
as a process killed mid-send would. On SQLite and PostgreSQL. No fixed sleeps.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from config.app import build_hub
from hub.clock import utcnow
from hub.db import Database
from hub.delivery.worker import DeliveryWorker
from hub.ports import Outbound, SendResult
from tests.conftest import make_settings, wait_for
from tests.factories import outbox_row, queued


class SlowAdapter:
    """Records each send; a send waits until `release` is set (a provider taking its time)."""

    channel = "api"
    address_kind = None

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, message: Outbound) -> SendResult:
        self.started.set()
        await self.release.wait()
        self.sent.append(message.outbox_id)
        return SendResult(provider_id=f"p-{message.outbox_id}")


def _queue_one(db: Database) -> int:
    return queued(db, "api", {"source": "crm", "text": "hello"})


def test_a_dead_workers_claim_is_sent_by_another_after_its_short_lease(database_url: str) -> None:
    db = Database(database_url)
    try:
        lease = timedelta(seconds=1)
        item_id = _queue_one(db)
        dead = DeliveryWorker(db, {"api": SlowAdapter()}, lease=lease)
        [claimed], _ = dead._claim()  # claimed, then the process died: nothing renews it
        assert claimed.id == item_id

        async def scenario() -> SlowAdapter:
            adapter = SlowAdapter()
            adapter.release.set()
            other = DeliveryWorker(db, {"api": adapter}, lease=lease)
            assert await other.run_once() == 0  # the lease still holds: not taken yet
            lapsed = claimed.lease_until
            assert lapsed is not None and lapsed <= utcnow() + lease
            await asyncio.to_thread(wait_for, lambda: utcnow() > lapsed, what="the dead worker's lease to lapse")
            assert await other.run_once() == 1
            return adapter

        adapter = asyncio.run(scenario())
        assert adapter.sent == [item_id]
        row = outbox_row(db, item_id)
        assert (row.status, row.attempts, row.provider_id) == ("sent", 2, f"p-{item_id}")
    finally:
        db.dispose()


def test_a_live_workers_long_send_is_renewed_and_never_taken_by_another(database_url: str) -> None:
    db = Database(database_url)
    try:
        lease = timedelta(seconds=1.5)
        item_id = _queue_one(db)

        async def scenario() -> tuple[SlowAdapter, SlowAdapter]:
            slow, other_adapter = SlowAdapter(), SlowAdapter()
            other_adapter.release.set()
            live = DeliveryWorker(db, {"api": slow}, lease=lease, renew_every=0.3)
            other = DeliveryWorker(db, {"api": other_adapter}, lease=lease)
            sending = asyncio.ensure_future(live.run_once())
            await asyncio.wait_for(slow.started.wait(), 10)
            claimed_until = outbox_row(db, item_id).lease_until
            assert claimed_until is not None
            # Wait (polling) until the first lease would have run out twice over.
            await asyncio.to_thread(wait_for, lambda: utcnow() > claimed_until + lease, timeout=20,
                                    what="the first lease to lapse")
            assert live.renewals >= 2
            assert outbox_row(db, item_id).lease_until > utcnow()  # type: ignore[operator]
            assert await other.run_once() == 0  # still the live worker's
            slow.release.set()
            assert await sending == 1
            assert await other.run_once() == 0  # sent: nothing left to take
            return slow, other_adapter

        slow, other_adapter = asyncio.run(scenario())
        assert slow.sent == [item_id] and other_adapter.sent == []
        row = outbox_row(db, item_id)
        assert (row.status, row.attempts, row.lease_until) == ("sent", 1, None)
    finally:
        db.dispose()


def test_the_lease_is_a_setting_of_a_few_seconds(database_url: str) -> None:
    assert make_settings(database_url).delivery_lease_seconds == 10
    hub = build_hub(make_settings(database_url, delivery_lease_seconds=4), run_workers=False)
    try:
        assert hub.worker.lease == timedelta(seconds=4)
        assert abs(hub.worker.renew_every - 4 / 3) < 1e-9
    finally:
        hub.db.dispose()
