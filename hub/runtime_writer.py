"""The running hub's writer: inbound messages and agents' writes (`write_async`) share one writer
thread's transactions (hub.group_commit), each paying a share of one BEGIN, write lock and COMMIT;
a batch that fails is run again item by item. Rejected messages' raw payloads are kept for admins.
(A mixin of hub.runtime.Hub.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import Session

from hub.conversations.sanitize import clean_inbound, clean_inbound_async
from hub.conversations.storable import check_storable
from hub.db import Database
from hub.errors import Invalid
from hub.group_commit import GroupCommit
from hub.ingest.entry import do_ingest_many, find_ingested
from hub.ports import InboundMessage, IngestResult, RawPayload, RejectedMessage
from hub.raw_payloads import do_keep_raw
from hub.routing.actions import Router

if TYPE_CHECKING:
    from hub.runtime import HubOptions

logger = logging.getLogger(__name__)
# The ingest writer's wait for more messages under load (hub.group_commit).
INGEST_LINGER_SECONDS = 0.001
R = TypeVar("R")
# A write an agent asks for, run by the writer thread inside its transaction (`Hub.write_async`).
WriteOp = Callable[[Session], R]


@dataclass(frozen=True)
class RerunnableOp(Generic[R]):
    """An op whose second run finds what its first wrote (a unique key, like an inbound message's):
    safe to run again after a shared COMMIT that may have gone through."""

    op: WriteOp[R]

    def __call__(self, session: Session) -> R:
        return self.op(session)


def _raw_of(message: InboundMessage, exc: RejectedMessage) -> RawPayload:
    assert message.raw is not None
    return RawPayload(channel=message.channel, source=message.source, reason=f"rejected: {exc}",
                      payload=message.raw, content_type=message.raw_content_type, external_id=message.external_id)


def _rejected(exc: Exception) -> RejectedMessage:
    if isinstance(exc, Invalid):
        return RejectedMessage(exc.message)
    return RejectedMessage("a value in this message cannot be stored: a number is out of range, "
                           "a text is too long or contains a NUL character")


class HubWriter:
    db: Database
    options: HubOptions
    router: Router
    writer: GroupCommit[InboundMessage | WriteOp[Any], Any]

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
        item: WriteOp[R] = RerunnableOp(op) if rerun_safe else op
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
    def _keep_raw(self, raw: RawPayload) -> None:
        with self.db.write(serialize=False) as s:  # appends no event
            do_keep_raw(s, raw, max_bytes=self.options.raw_payload_max_bytes)

    def _keep_rejected(self, message: InboundMessage, exc: RejectedMessage) -> None:
        if message.raw is not None:
            try:
                self._keep_raw(_raw_of(message, exc))
            except Exception:
                logger.exception("could not keep the raw payload of rejected message %s", message.external_id)
