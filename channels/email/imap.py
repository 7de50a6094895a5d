"""Watching an IMAP folder: every message ingested once, in UID order, none skipped.

The cursor `email:<mailbox>:imap` = "<UIDVALIDITY>:<last UID>" travels with each message
(`InboundMessage.cursor`), so the hub stores it in the transaction that commits the message: a
crash, a server restart or a network loss at any point resumes right after the last committed
message. A message that cannot be parsed is kept raw for an admin before the cursor passes it.
A new UIDVALIDITY (the folder was recreated, or the server renumbered it) reads the folder again
from the start: what was stored before is recognised by its natural key (Message-ID, or the
content hash, within the mailbox's ingest scope) and the hub's unique constraint makes it a no-op.

`run()` is a task for the hub's TaskRunner: it returns only when cancelled and raises on any
failure; the runner restarts it with backoff, and it resumes from the stored cursor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from channels.email.bodies import Part
from channels.email.classify import classify
from channels.email.files import with_files
from channels.email.imap_client import ImapSession
from channels.email.inbound import EmailPort, report_bounce, to_inbound, to_raw
from channels.email.parsing import parse_email
from channels.email.settings import ImapServer, Mailbox
from hub.ports import Cursor, InboundMessage, IngestResult, RawPayload, RejectedMessage

logger = logging.getLogger(__name__)

# The fetch of the next batch overlaps the ingest of this one; parsing runs on a thread when a
# batch holds this much mail (a few big messages must not stall the hub's event loop).
PARSE_ON_THREAD_BYTES = 64 * 1024


def cursor_name(mailbox: Mailbox) -> str:
    return f"email:{mailbox.address}:imap"


def parse_cursor(value: str | None) -> tuple[int, int] | None:
    """(UIDVALIDITY, last UID) from a stored cursor, None when absent or unreadable."""
    if not value:
        return None
    validity, _, uid = value.partition(":")
    return (int(validity), int(uid)) if validity.isdigit() and uid.isdigit() else None


class IngestFailed(Exception):
    """The hub could not store a message; the task restarts and reads from before it."""


@dataclass(frozen=True)
class Prepared:
    uid: int
    message: InboundMessage | None  # to ingest (carrying its cursor), or
    raw: RawPayload | None  # to keep for an admin, with the reason
    parts: tuple[Part, ...] = ()  # the message's files, stored just before it is ingested


class MailboxWatcher:
    """Follows one mailbox's IMAP folder (`Mailbox.imap`) into the hub."""

    # With the TaskRunner's backoff (1 s, 2 s, 4 s, ...) that is about half a minute of retries.
    give_up_after = 5

    def __init__(self, mailbox: Mailbox, port: EmailPort, *, our_addresses: Sequence[str] = (),
                 session: Callable[[ImapServer], ImapSession] = ImapSession) -> None:
        assert mailbox.imap is not None
        self.mailbox = mailbox
        self.server: ImapServer = mailbox.imap
        self.port = port
        self.addresses = tuple(our_addresses) or (mailbox.address,)
        self.cursor_name = cursor_name(mailbox)
        self.session_factory = session
        # Where to resume when the last batch failed part-way: the hub may have committed later
        # messages of that batch (each alone, after a shared transaction failed), whose cursor
        # is past the one that failed. Kept across the task's restarts (same process).
        self.floor: tuple[int, int] | None = None
        self.fetched = 0  # messages fetched since start (for tests and the log)
        self.session: ImapSession | None = None  # the current connection, while `run` runs
        self.failures: dict[tuple[int, int], int] = {}  # (UIDVALIDITY, UID) -> failed ingests in a row

    async def run(self) -> None:
        session = self.session = self.session_factory(self.server)
        try:
            await session.open()
            folder = await session.select(self.server.folder)
            last = await self._resume_point(folder.uidvalidity)
            while True:
                last = await self._catch_up(session, folder.uidvalidity, last)
                await session.wait_for_news(self.server.idle_seconds if session.idle else self.server.poll_seconds)
        finally:
            await session.close()

    async def _resume_point(self, uidvalidity: int) -> int:
        stored = parse_cursor(await self.port.cursor_async(self.cursor_name))
        last = 0
        if stored is not None and stored[0] == uidvalidity:
            last = stored[1]
        elif stored is not None:
            logger.warning("mailbox %s: folder %s has a new UIDVALIDITY (%s, was %s): reading it again from the "
                           "start; mail already stored is recognised and not stored twice",
                           self.mailbox.address, self.server.folder, uidvalidity, stored[0])
            # Said once: an empty recreated folder would otherwise look new at every reconnection.
            await self.port.set_cursor_async(Cursor(self.cursor_name, f"{uidvalidity}:0"))
        if self.floor is not None and self.floor[0] == uidvalidity:
            last = min(last, self.floor[1])
        return last

    async def _catch_up(self, session: ImapSession, uidvalidity: int, last: int) -> int:
        """Ingests every message above `last`; returns the new last UID."""
        uids = await session.uids_after(last)
        chunks = [uids[i:i + self.server.batch] for i in range(0, len(uids), self.server.batch)]
        if not chunks:
            return last
        fetching = asyncio.ensure_future(session.fetch(chunks[0]))
        try:
            for i, chunk in enumerate(chunks):
                fetched = await fetching
                if i + 1 < len(chunks):  # the next batch comes over the network while this one is stored
                    fetching = asyncio.ensure_future(session.fetch(chunks[i + 1]))
                self.fetched += len(fetched)
                last = await self._store(uidvalidity, fetched, through=chunk[-1])
        finally:
            if not fetching.done():
                fetching.cancel()
            elif not fetching.cancelled():
                fetching.exception()  # seen here: its failure is the one being raised, or moot
        return last

    async def _store(self, uidvalidity: int, fetched: list[tuple[int, bytes]], through: int) -> int:
        """Ingests one fetched batch in UID order; returns `through` once all of it is stored."""
        size = sum(len(raw) for _, raw in fetched)
        if size >= PARSE_ON_THREAD_BYTES:
            prepared = await asyncio.to_thread(self._prepare, uidvalidity, fetched)
        else:
            prepared = self._prepare(uidvalidity, fetched)
        # Unreadable mail is kept before any cursor of this batch moves past it.
        for item in prepared:
            if item.raw is not None:
                await self.port.keep_raw_async(item.raw)
        # The batch's files are kept all at once (disk writes on threads), each message's in order.
        readable = [item for item in prepared if item.message is not None]
        messages = list(zip([item.uid for item in readable], await asyncio.gather(
            *(with_files(self.port, item.message, item.parts) for item in readable if item.message)), strict=True))
        # Submitted together, so the hub commits them together (group commit), in this order;
        # shielded: a stop while they are queued lets them finish rather than leave a gap.
        ingests = [asyncio.ensure_future(self.port.ingest_async(m)) for _, m in messages]
        results: list[IngestResult | BaseException] = []
        if ingests:
            results = await asyncio.shield(asyncio.gather(*ingests, return_exceptions=True))
        gave_up = False
        for (uid, message), result in zip(messages, results, strict=True):
            if isinstance(result, IngestResult) and result.created:
                await report_bounce(self.port, message, self.addresses)
            if isinstance(result, RejectedMessage):  # kept raw by the hub (the message carries it)
                logger.warning("mailbox %s: UID %s (%s) refused by the hub: %s", self.mailbox.address, uid,
                               message.external_id, result)
            elif isinstance(result, BaseException):
                if await self._given_up(uidvalidity, uid, message, result):
                    gave_up = True
                    continue
                await self._rewind(uidvalidity, uid - 1)
                raise IngestFailed(f"mailbox {self.mailbox.address}: UID {uid} not stored: {result}") from result
        stored_with_last = bool(messages) and isinstance(results[-1], IngestResult) and messages[-1][0] == through
        if not stored_with_last or gave_up:  # the batch ended with mail not ingested, or passed one
            await self.port.set_cursor_async(Cursor(self.cursor_name, f"{uidvalidity}:{through}"))
        self.floor = None
        return through

    async def _given_up(self, uidvalidity: int, uid: int, message: InboundMessage, error: BaseException) -> bool:
        """A message the hub failed to store `give_up_after` times in a row is kept raw for an
        admin and passed, so one message the hub cannot digest never stops the mailbox. Only
        when the hub can write at all: a database that is down fails every message, and then
        nothing may be passed."""
        key = (uidvalidity, uid)
        self.failures[key] = self.failures.get(key, 0) + 1
        if self.failures[key] < self.give_up_after:
            return False
        try:  # proof that the hub writes at all (the end of the batch moves the cursor on again)
            await self.port.set_cursor_async(Cursor(self.cursor_name, f"{uidvalidity}:{uid - 1}"))
        except Exception:
            return False
        reason = f"the hub failed to store it {self.failures[key]} times: {type(error).__name__}: {error}"
        logger.error("mailbox %s: UID %s (%s) passed: %s", self.mailbox.address, uid, message.external_id, reason)
        assert message.raw is not None
        await self.port.keep_raw_async(to_raw(self.mailbox, message.raw, reason, message.external_id))
        del self.failures[key]
        return True

    async def _rewind(self, uidvalidity: int, last_good: int) -> None:
        """After message N failed, resume at N even if later ones were committed."""
        self.floor = (uidvalidity, last_good)
        try:
            await self.port.set_cursor_async(Cursor(self.cursor_name, f"{uidvalidity}:{last_good}"))
        except Exception:  # the floor above still holds in this process
            logger.exception("mailbox %s: could not store the cursor back at UID %s", self.mailbox.address, last_good)

    def _prepare(self, uidvalidity: int, fetched: list[tuple[int, bytes]]) -> list[Prepared]:
        out: list[Prepared] = []
        for uid, raw in fetched:
            cursor = Cursor(self.cursor_name, f"{uidvalidity}:{uid}")
            if len(raw) > self.server.max_bytes:
                reason = f"message of {len(raw)} bytes is over this mailbox's limit of {self.server.max_bytes} bytes"
                out.append(Prepared(uid, None, to_raw(self.mailbox, raw, reason, None)))
                continue
            parsed = parse_email(raw, mailbox_addresses=self.addresses)
            if parsed.failure:
                out.append(Prepared(uid, None, to_raw(self.mailbox, raw, parsed.failure, parsed.external_id)))
                continue
            out.append(Prepared(uid, to_inbound(parsed, classify(parsed), self.mailbox, raw, cursor=cursor), None,
                                parsed.parts))
        return out
