"""The running hub: the database, the live event bus, the delivery worker and the background
loops, with the `HubPort` that channel adapters call. Assembled by config.app. Its writer is
hub.runtime_writer, what it offers channels beside ingest hub.runtime_channel_services."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hub.agents.actions import agent_dict, api_key_for, do_set_presence, get_agent, team_ids_of
from hub.attachments.files import AttachmentFiles
from hub.attachments.settling import Settling
from hub.channel_accounts.crypto import SecretBox
from hub.clock import utcnow
from hub.conversations import actions as conv_actions
from hub.conversations.customer_fanout import CustomerFanout
from hub.db import Database
from hub.delivery import actions as delivery_actions
from hub.delivery.worker import DeliveryWorker
from hub.events.fanout import EventBus
from hub.events.redis_fanout import RedisWaker
from hub.events.visibility import Visibility
from hub.group_commit import GroupCommit
from hub.hints import TypingHints
from hub.ports import (
    ChannelAdapter,
    DeliveryUpdate,
    HubPort,
    InboundMessage,
)
from hub.raw_payloads import DEFAULT_MAX_BYTES
from hub.routing.actions import Router
from hub.routing.config import RoutingConfig
from hub.routing.service import RoutingService
from hub.routing.waiting import Queues
from hub.runtime_channel_services import ChannelServices
from hub.runtime_writer import INGEST_LINGER_SECONDS, RerunnableOp, WriteOp
from hub.tasks import cancel_and_wait
from hub.viewers import ConversationViewers

logger = logging.getLogger(__name__)
API_KEY_CACHE_SECONDS = 5.0


@dataclass
class HubOptions:
    redis_url: str | None = None
    redis_prefix: str = "hub:"
    reopen_window: timedelta = timedelta(days=7)
    poll_interval: float = 1.0
    replay_limit: int = 10_000
    delivery_max_attempts: int = 8
    delivery_lease: timedelta = timedelta(seconds=10)
    run_workers: bool = True
    adapters: dict[str, ChannelAdapter] = field(default_factory=dict)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    # Who reads what (hub.events.visibility): "company" (everyone reads every customer) or "team".
    visibility: Visibility = "company"
    # Where attachments' bytes go (hub.blobs), and their size limit; None: files are refused.
    files: AttachmentFiles | None = None
    # Raw payloads kept for admins (hub.raw_payloads) are cut to this size.
    raw_payload_max_bytes: int = DEFAULT_MAX_BYTES
    # Seals channel accounts' secrets (mailbox passwords) at rest; None: none can be stored.
    secret_box: SecretBox | None = None


class Hub(ChannelServices, HubPort):
    def __init__(self, db: Database, options: HubOptions) -> None:
        self.db = db
        self.options = options
        self.bus = EventBus(db, poll_interval=options.poll_interval)
        self.customer_fanout = CustomerFanout(self.bus)
        self.hints = TypingHints()
        self.settling = Settling()
        self.viewers = ConversationViewers()
        self.queues = Queues()
        self.adapters = dict(options.adapters)
        # Claims and outcomes go through the writer (`write_async`), beside inbound messages.
        self.worker = DeliveryWorker(db, self.adapters, max_attempts=options.delivery_max_attempts,
                                     poll_interval=options.poll_interval, lease=options.delivery_lease,
                                     write=lambda op: self.write_async(op, rerun_safe=True))
        self.redis: RedisWaker | None = None
        if options.redis_url:
            self.redis = RedisWaker(options.redis_url, options.redis_prefix, self.bus)
            self.bus.on_local_commit.append(self.redis.publish)
        db.on_events_committed = self.bus.committed
        db.on_outbox_committed = self.worker.wake
        self.router = Router(options.routing)
        # Routing as agents' status changes call it (ingest is given the router itself).
        self.route_hook: conv_actions.RouteHook = self.router.on_routable
        self.routing = RoutingService(db, self.bus, self.router, tick=max(0.2, min(options.poll_interval, 1.0)))
        self._tasks: list[asyncio.Task[None]] = []
        self._api_keys: dict[str, float] = {}
        # One writer thread for inbound messages and for agents' writes (`write_async`): they
        # share its transactions, so each pays a share of one BEGIN, write lock and COMMIT.
        self.writer: GroupCommit[InboundMessage | WriteOp[Any], Any] = GroupCommit(
            db, self._write_in, self._write_alone, run_many=self._write_many, name="ingest-writer",
            linger=INGEST_LINGER_SECONDS,
            # A message's second run finds the first (its unique key), and so does an agent's reply
            # sent with a client id; one without would be sent twice: after a COMMIT that may have
            # gone through, its caller gets the error.
            rerun_if_unsure=lambda item: isinstance(item, InboundMessage | RerunnableOp),
        )

    def register_adapter(self, adapter: ChannelAdapter) -> None:
        self.adapters[adapter.channel] = adapter

    async def start(self) -> None:
        await self.bus.start()
        if self.db.dialect == "sqlite":
            self._tasks.append(asyncio.create_task(self._checkpoint_loop(), name="sqlite-checkpoint"))
        if self.redis is not None:
            await self.redis.start()
        if self.options.run_workers:
            await self.worker.start()
            await self.routing.start()
            self._tasks.append(asyncio.create_task(self._snooze_loop(), name="snooze-waker"))

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()
        await self.routing.stop()
        await self.worker.stop()  # before the writer: it records outcomes through it
        await asyncio.to_thread(self.writer.close)
        if self.redis is not None:
            await self.redis.stop()
        await self.bus.stop()

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await asyncio.to_thread(self.db.checkpoint)
            except Exception:
                logger.exception("SQLite checkpoint failed; will retry")

    async def _snooze_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.wake_snoozed)
            except Exception:
                logger.exception("waking snoozed conversations failed")
            await asyncio.sleep(max(self.options.poll_interval, 1.0))

    def wake_snoozed(self) -> int:
        with self.db.write() as s:
            return conv_actions.do_wake_snoozed(s, route=self.route_hook)

    def set_presence(self, agent_id: int, presence: str) -> dict[str, object]:
        """Set an agent's presence; going offline hands their chats to others."""
        with self.db.write() as s:
            agent = get_agent(s, agent_id)
            changed = do_set_presence(s, agent, presence)
            if changed and presence == "offline":
                self.router.release_agent(s, agent_id, reason="agent_offline")
            return agent_dict(agent, team_ids_of(s, agent_id))

    def heartbeat(self, agent_id: int, *, connected: bool = True) -> None:
        """A console is alive (see RoutingConfig.presence_grace). Appends no event."""
        with self.db.write(serialize=False) as s:
            agent = get_agent(s, agent_id)
            agent.console_connected = connected
            agent.last_seen_at = utcnow()
    def apply_delivery_update(self, update: DeliveryUpdate) -> bool:
        with self.db.write() as s:
            return delivery_actions.do_apply_delivery_update(
                s, channel=update.channel, provider_id=update.provider_id, status=update.status,
                error_code=update.error_code, error_message=update.error_message,
            )

    def check_api_key(self, secret: str) -> bool:
        """Valid keys are remembered for a few seconds: integrators post in bursts, and a revoked
        key stops working within API_KEY_CACHE_SECONDS on every node."""
        if self._key_remembered(secret):
            return True
        now = time.monotonic()
        with self.db.read() as s:
            ok = api_key_for(s, secret) is not None
        if ok:
            if len(self._api_keys) > 1000:
                self._api_keys.clear()
            self._api_keys[secret] = now
        else:
            self._api_keys.pop(secret, None)
        return ok

    async def check_api_key_async(self, secret: str) -> bool:
        """`check_api_key` for the event loop: a remembered key costs no thread hop."""
        if self._key_remembered(secret):
            return True
        return await asyncio.to_thread(self.check_api_key, secret)

    def _key_remembered(self, secret: str) -> bool:
        cached = self._api_keys.get(secret)
        return cached is not None and time.monotonic() - cached < API_KEY_CACHE_SECONDS

    def forget_api_keys(self) -> None:
        """After a revocation: this node stops accepting the key at once (others within seconds)."""
        self._api_keys.clear()
