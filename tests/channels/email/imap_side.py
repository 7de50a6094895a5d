"""What the IMAP tests share: an in-memory port that keeps the cursor with each message, a task
runner that restarts like the hub's, generated mail, and waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from channels.email.settings import ImapServer, Mailbox
from hub.ports import (
    Attachment,
    ChannelAccount,
    Cursor,
    DeliveryUpdate,
    FileToKeep,
    HubPort,
    InboundMessage,
    IngestResult,
    RawPayload,
    RejectedMessage,
)
from tests.dovecot import PASSWORD, USER, Dovecot


@dataclass
class FilesKept:
    """The port's file store and delivery updates, in memory (for the email tests' fake ports)."""

    files: list[bytes] = field(default_factory=list)  # what was stored (parts, raw messages)
    updates: list[DeliveryUpdate] = field(default_factory=list)  # bounces of our mail

    def apply_delivery_update(self, update: DeliveryUpdate) -> bool:
        self.updates.append(update)
        return True

    async def keep_files_async(self, files: Sequence[FileToKeep], *,
                               settle: bool = True) -> list[Attachment | RejectedMessage]:
        """As the hub: the bytes now, the ids when the message is stored (here: never, the keys are kept)."""
        kept: list[Attachment | RejectedMessage] = []
        for f in files:
            self.files.append(f.content)
            kept.append(Attachment(None, f.content_type, f.filename, len(f.content), f.cid, kept=str(len(self.files))))
        return kept

    async def settle_files_async(self, files: Sequence[Attachment]) -> None:
        """Files in memory are as durable as they get here."""


@dataclass
class FakePort(FilesKept):
    """Ingest, cursors and the raw store in memory. A message and its cursor are stored together,
    as the hub does in one transaction; `calls` counts every ingest, redeliveries included."""

    committed: list[InboundMessage] = field(default_factory=list)
    kept: list[RawPayload] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    after_ingest: Callable[[int], None] | None = None  # called with len(committed)
    refuse: set[str] = field(default_factory=set)  # external ids the "hub" rejects
    fail_once: set[str] = field(default_factory=set)  # external ids whose first ingest fails
    fail_always: set[str] = field(default_factory=set)  # external ids the "hub" can never store

    async def ingest_async(self, message: InboundMessage) -> IngestResult:
        self.calls += 1
        if message.external_id in self.fail_once:
            self.fail_once.discard(message.external_id)
            raise RuntimeError("the database went away")
        if message.external_id in self.fail_always:
            raise RuntimeError("a bug in the hub")
        if message.external_id in self.refuse:
            assert message.raw is not None
            self.kept.append(RawPayload(message.channel, message.source, "rejected", message.raw,
                                        message.raw_content_type, message.external_id))
            raise RejectedMessage("refused")
        if message.cursor is not None:
            self.cursors[message.cursor.name] = message.cursor.value
        if any((m.ingest_scope, m.external_id) == (message.ingest_scope, message.external_id) for m in self.committed):
            return IngestResult(1, 1, 1, created=False)
        self.committed.append(message)
        if self.after_ingest is not None:
            self.after_ingest(len(self.committed))
        return IngestResult(len(self.committed), 1, 1, created=True)

    async def keep_raw_async(self, payload: RawPayload) -> None:
        self.kept.append(payload)

    async def channel_accounts_async(self, channel: str) -> tuple[ChannelAccount, ...]:
        return ()

    async def cursor_async(self, name: str) -> str | None:
        return self.cursors.get(name)

    async def set_cursor_async(self, cursor: Cursor) -> None:
        self.cursors[cursor.name] = cursor.value

    @property
    def subjects(self) -> list[str | None]:
        return [m.subject for m in self.committed]


class Counting:
    """A real port (the hub), counting what was handed over: `again` counts redeliveries
    (created=False), i.e. mail fetched twice. `done` is set once `expected` were created."""

    def __init__(self, hub: HubPort, expected: int = 0) -> None:
        self.hub = hub
        self.created = self.again = 0
        self.expected = expected
        self.done = asyncio.Event()
        self.after_ingest: Callable[[int], None] | None = None  # called with `created`

    async def ingest_async(self, message: InboundMessage) -> IngestResult:
        result = await self.hub.ingest_async(message)
        if result.created:
            self.created += 1
        else:
            self.again += 1
        if self.expected and self.created >= self.expected:
            self.done.set()
        if self.after_ingest is not None:
            self.after_ingest(self.created)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.hub, name)


class Runner:
    """The hub's TaskRunner in small: a task that raises is restarted after `backoff` seconds."""

    def __init__(self, backoff: float = 0.05) -> None:
        self.backoff = backoff
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.errors: list[BaseException] = []

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self.tasks[name] = asyncio.create_task(self._supervise(run), name=name)

    async def _supervise(self, run: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self.errors.append(exc)
                await asyncio.sleep(self.backoff)

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


def mailbox(server: Dovecot, **imap: object) -> Mailbox:
    settings = {"host": "127.0.0.1", "port": server.port, "tls": False, "username": USER, "password": PASSWORD,
                "poll_seconds": 300.0, "idle_seconds": 300.0, "timeout_seconds": 10.0, **imap}
    return Mailbox("support@example.com", imap=ImapServer(**settings))  # type: ignore[arg-type]


def mail(n: int, *, sender: str | None = None, subject: str | None = None, message_id: bool = True) -> bytes:
    sender = sender or f"customer{n}@example.net"
    head = [f"From: Customer {n} <{sender}>", "To: support@example.com", f"Subject: {subject or f'Order {n}'}",
            "Date: Mon, 2 Jun 2025 10:00:00 +0000"]
    if message_id:
        head.append(f"Message-ID: <order-{n}@example.net>")
    return ("\r\n".join(head) + f"\r\n\r\nHello, this is message {n}.\r\n").encode()


BROKEN = b"Subject: no sender at all\r\nMessage-ID: <broken@example.net>\r\n\r\nwho wrote this?\r\n"


async def until(condition: Callable[[], bool], *, within: float = 20.0, what: str = "condition") -> float:
    """Waits for `condition`; returns how long it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - start
