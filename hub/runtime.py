"""The running hub: the database, the live event bus, the delivery worker and the background
loops, with the `HubPort` that channel adapters call. Assembled by config.app."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, BinaryIO, Generic, TypeVar

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import Session

from hub.agents.actions import agent_dict, api_key_for, do_set_presence, get_agent, team_ids_of
from hub.attachments import actions as attachment_actions
from hub.attachments.files import AttachmentFiles
from hub.attachments.models import StoredAttachment
from hub.blobs import BlobNotFound
from hub.channel_accounts.actions import port_accounts
from hub.channel_accounts.crypto import SecretBox
from hub.channel_cursors import do_store_cursor, get_cursor
from hub.clock import utcnow
from hub.contacts.actions import find_by_identity, ref_kind
from hub.contacts.addresses import find_by_address, normalize_address
from hub.contacts.opt_outs import do_set_opt_out
from hub.conversations import actions as conv_actions
from hub.conversations.customer_feed import CustomerFeed
from hub.conversations.models import Conversation
from hub.conversations.sanitize import clean_inbound, clean_inbound_async
from hub.conversations.storable import check_storable
from hub.db import Database
from hub.delivery import actions as delivery_actions
from hub.delivery.worker import DeliveryWorker
from hub.errors import Conflict, Invalid
from hub.events.fanout import EventBus
from hub.events.redis_fanout import RedisWaker
from hub.events.visibility import Visibility
from hub.group_commit import GroupCommit
from hub.hints import CustomerTyping, TypingHints
from hub.ingest.entry import do_ingest_many, find_ingested
from hub.ports import (
    Attachment,
    ChannelAccount,
    ChannelAdapter,
    Cursor,
    DeliveryUpdate,
    HubPort,
    InboundMessage,
    IngestResult,
    PermanentError,
    PublicEvent,
    QueueStatus,
    RawPayload,
    RejectedMessage,
)
from hub.raw_payloads import DEFAULT_MAX_BYTES, do_keep_raw
from hub.routing.actions import Router
from hub.routing.config import RoutingConfig
from hub.routing.service import RoutingService
from hub.routing.waiting import AssignmentWaits, queue_status
from hub.tasks import cancel_and_wait

logger = logging.getLogger(__name__)
API_KEY_CACHE_SECONDS = 5.0
# The ingest writer's wait for more messages under load (hub.group_commit).
INGEST_LINGER_SECONDS = 0.001
R = TypeVar("R")
# A write an agent asks for, run by the writer thread inside its transaction (`Hub.write_async`).
WriteOp = Callable[[Session], R]


@dataclass(frozen=True)
class _RerunnableOp(Generic[R]):
    """An op whose second run finds what its first wrote (a unique key, like an inbound message's):
    safe to run again after a shared COMMIT that may have gone through."""

    op: WriteOp[R]

    def __call__(self, session: Session) -> R:
        return self.op(session)


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


def _raw_of(message: InboundMessage, exc: RejectedMessage) -> RawPayload:
    assert message.raw is not None
    return RawPayload(channel=message.channel, source=message.source, reason=f"rejected: {exc}",
                      payload=message.raw, content_type=message.raw_content_type, external_id=message.external_id)


def _rejected(exc: Exception) -> RejectedMessage:
    if isinstance(exc, Invalid):
        return RejectedMessage(exc.message)
    return RejectedMessage("a value in this message cannot be stored: a number is out of range, "
                           "a text is too long or contains a NUL character")


class Hub(HubPort):
    def __init__(self, db: Database, options: HubOptions) -> None:
        self.db = db
        self.options = options
        self.bus = EventBus(db, poll_interval=options.poll_interval)
        self.hints = TypingHints()
        self.waits = AssignmentWaits()
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
            rerun_if_unsure=lambda item: isinstance(item, InboundMessage | _RerunnableOp),
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

    # -- HubPort -------------------------------------------------------------------------------

    def ingest(self, message: InboundMessage) -> IngestResult:
        """Commit one inbound message, or raise. A concurrent duplicate resolves to the first copy.

        Messages arriving together are committed together (hub.group_commit); each caller is
        answered after the commit that holds its message.
        """
        try:
            check_storable(message)
            message = clean_inbound(message)  # before the writer: see hub.conversations.sanitize
            return self.writer.submit(message).result()
        except (Invalid, DataError) as exc:
            rejected = _rejected(exc)
            self._keep_rejected(message, rejected)
            raise rejected from exc

    async def ingest_async(self, message: InboundMessage) -> IngestResult:
        """`ingest` for the event loop: waits for the commit without holding a thread."""
        try:
            check_storable(message)  # both databases refuse the same messages, before the writer
            message = await clean_inbound_async(message)
            return await self.writer.submit_async(message)
        except (Invalid, DataError) as exc:
            rejected = _rejected(exc)
            if message.raw is not None:
                await asyncio.to_thread(self._keep_rejected, message, rejected)
            raise rejected from exc

    async def write_async(self, op: WriteOp[R], *, rerun_safe: bool = False) -> R:
        """Run `op(session)` in the writer's next transaction and return what it returns, after the
        commit. `op` may run twice (once in a shared transaction that another item made fail,
        then alone), so it must change nothing but the database through `session`, and it must
        not open a transaction of its own. If the shared COMMIT itself fails (it may have gone
        through), `op` is run again only if `rerun_safe` (its second run finds what the first
        wrote: a reply with a client id); otherwise its caller gets the error. An exception it
        raises fails its shared transaction; the other items are then run alone, and the caller
        gets the exception."""
        item: WriteOp[R] = _RerunnableOp(op) if rerun_safe else op
        return await self.writer.submit_async(item)

    def _write_in(self, session: Session, item: InboundMessage | WriteOp[Any]) -> Any:
        if isinstance(item, InboundMessage):
            return self._ingest_in(session, item)
        return item(session)

    def _write_many(self, session: Session, items: list[InboundMessage | WriteOp[Any]]) -> list[Any]:
        """A batch: agents' writes first (a resolve frees room that a new conversation of the same
        batch can then take), then the messages, together (`do_ingest_many`)."""
        results: list[Any] = [None] * len(items)
        messages: list[tuple[int, InboundMessage]] = []
        for i, item in enumerate(items):
            if isinstance(item, InboundMessage):
                messages.append((i, item))
            else:
                # Without autoflush: the first read of each op would otherwise flush the changes of
                # the ops before it, a flush per op instead of one for them all (their rows are
                # distinct; one op reading an object another changed gets it from the session).
                with session.no_autoflush:
                    results[i] = item(session)
        if messages and len(messages) < len(items):
            # The plain-SQL ingest reads and writes rows directly: what the writes above changed
            # (a conversation just resolved, their events) must be in the database first.
            session.flush()
        if messages:
            ingested = self._ingest_many(session, [m for _, m in messages])
            for (i, _), result in zip(messages, ingested, strict=True):
                results[i] = result
        return results

    def _write_alone(self, item: InboundMessage | WriteOp[Any]) -> Any:
        if isinstance(item, InboundMessage):
            return self._ingest_alone(item)
        with self.db.write() as s:
            return item(s)

    def _ingest_in(self, session: Session, message: InboundMessage) -> IngestResult:
        result = self._ingest_many(session, [message])[0]  # one message: its error is raised, not returned
        assert isinstance(result, IngestResult)
        return result

    def _ingest_many(self, session: Session, messages: list[InboundMessage]) -> list[IngestResult | Exception]:
        return do_ingest_many(session, messages, reopen_window=self.options.reopen_window, route=self.router)

    def _ingest_alone(self, message: InboundMessage) -> IngestResult:
        """One message in its own transaction, retrying lost races (after a shared one failed)."""
        for attempt in range(5):
            try:
                with self.db.write() as s:
                    return self._ingest_in(s, message)
            except IntegrityError:
                # Lost a race on a unique key (the same message, or a new contact's identity).
                with self.db.read() as s:
                    found = find_ingested(s, message.ingest_scope, message.external_id)
                if found is not None:
                    assert found.id is not None
                    return IngestResult(found.id, found.conversation_id, found.contact_id, created=False)
            except OperationalError as exc:
                # Deadlocks, serialization failures and a connection the database closed (a
                # restart; the pool is then renewed) are safe to retry; anything else is not.
                text = str(exc).lower()
                if not exc.connection_invalidated and "deadlock" not in text and "could not serialize" not in text:
                    raise
            time.sleep(0.01 * (attempt + 1))
        raise RuntimeError("ingest kept conflicting; the sender should retry")

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

    async def set_opt_out_async(self, channel: str, address: str, opted_out: bool, reason: str) -> None:
        adapter = self.adapters.get(channel)
        if adapter is None or adapter.address_kind is None:
            raise Invalid(f"channel {channel!r} addresses nobody: it has no opt-outs")
        kind = adapter.address_kind
        address = normalize_address(kind, address)  # here: an op that raises fails a shared batch

        def op(s: Session) -> None:
            contact = find_by_address(s, kind, address)
            if contact is not None:
                do_set_opt_out(s, contact, channel, opted_out, reason)

        await self.write_async(op, rerun_safe=True)  # a second run finds it done: no second event

    async def cursor_async(self, name: str) -> str | None:
        def read() -> str | None:
            with self.db.read() as s:
                return get_cursor(s, name)
        return await asyncio.to_thread(read)

    async def set_cursor_async(self, cursor: Cursor) -> None:
        await self.write_async(lambda s: do_store_cursor(s, cursor), rerun_safe=True)

    async def keep_raw_async(self, raw: RawPayload) -> None:
        try:
            await asyncio.to_thread(self._keep_raw, raw)
        except Exception:  # never blocks the channel's next item: the log says what was lost
            logger.exception("could not keep a raw %s payload from %s (%s)", raw.channel, raw.source, raw.reason)

    def _keep_raw(self, raw: RawPayload) -> None:
        with self.db.write(serialize=False) as s:  # appends no event
            do_keep_raw(s, raw, max_bytes=self.options.raw_payload_max_bytes)

    def _keep_rejected(self, message: InboundMessage, exc: RejectedMessage) -> None:
        if message.raw is not None:
            try:
                self._keep_raw(_raw_of(message, exc))
            except Exception:
                logger.exception("could not keep the raw payload of rejected message %s", message.external_id)

    async def customer_typing_async(self, conversation_id: int) -> None:
        def read() -> CustomerTyping | None:
            with self.db.read() as s:
                conv = s.get(Conversation, conversation_id)
                return None if conv is None else CustomerTyping(conversation_id, conv.team_id, conv.assignee_id)
        hint = await asyncio.to_thread(read)
        if hint is not None:
            self.hints.customer_typing(hint)

    def on_agent_typing(self, listener: Callable[[int, str], None]) -> Callable[[], None]:
        return self.hints.on_agent_typing(listener)

    async def find_contact_async(self, scope: str, external_ref: str) -> int | None:
        def read() -> int | None:
            with self.db.read() as s:
                contact = find_by_identity(s, ref_kind(scope), external_ref.strip())
                return contact.id if contact is not None else None
        return await asyncio.to_thread(read)

    def customer_feed(self, contact_id: int, after_event_id: int) -> AsyncIterator[PublicEvent]:
        return CustomerFeed(self.db, self.bus, contact_id).events(after_event_id)

    async def queue_status_async(self, conversation_id: int) -> QueueStatus | None:
        def read() -> QueueStatus | None:
            with self.db.read() as s:
                return queue_status(s, conversation_id, self.waits)
        return await asyncio.to_thread(read)

    async def store_attachment_async(self, content: bytes, content_type: str | None, filename: str | None, *,
                                     cid: str | None = None, accept: frozenset[str] | None = None) -> Attachment:
        return await self.store_file_async(content, content_type, filename, cid=cid, accept=accept)

    async def store_file_async(self, content: bytes | BinaryIO, content_type: str | None, filename: str | None, *,
                               cid: str | None = None, uploaded_by: int | None = None,
                               accept: frozenset[str] | None = None) -> Attachment:
        """`store_attachment_async`, also for a stream (an agent's upload, spooled to disk) and
        with the uploading agent, whose file it is until a reply of theirs carries it."""
        if self.options.files is None:
            raise RejectedMessage("this hub keeps no files: no attachment store is configured")
        kept = await asyncio.to_thread(self.options.files.keep, content, content_type, filename, accept)
        cid = (cid or "").strip().strip("<>") or None
        if cid is not None and (len(cid) > 255 or not cid.isprintable()):
            cid = None  # not one an HTML part could name anyway
        return await self.write_async(lambda s: attachment_actions.do_add(
            s, blob_key=kept.blob_key, content_type=kept.content_type, filename=kept.filename, size=kept.size,
            cid=cid, uploaded_by=uploaded_by))

    async def open_attachment_async(self, attachment: Attachment) -> bytes:
        return await asyncio.to_thread(self.read_attachment, attachment)

    @property
    def secret_box(self) -> SecretBox:
        if self.options.secret_box is None:
            raise Conflict("this hub has no key to keep secrets with (HubOptions.secret_box)")
        return self.options.secret_box

    async def channel_accounts_async(self, channel: str) -> tuple[ChannelAccount, ...]:
        if self.options.secret_box is None:  # a hub built without a key (tests) stores no accounts
            return ()

        def read() -> tuple[ChannelAccount, ...]:
            with self.db.read() as s:
                return port_accounts(s, channel, self.secret_box)
        return await asyncio.to_thread(read)

    def read_attachment(self, attachment: Attachment) -> bytes:
        files = self.options.files
        if attachment.id is None or files is None:
            raise PermanentError(f"the hub has no file {attachment.filename or attachment.url!r}")
        with self.db.read() as s:
            row = s.get(StoredAttachment, attachment.id)
            key = row.blob_key if row is not None else None
        try:
            if key is None:
                raise BlobNotFound(attachment.id)
            return files.read(key)
        except BlobNotFound:
            raise PermanentError(f"the file {attachment.filename or attachment.id!r} is no longer kept") from None
