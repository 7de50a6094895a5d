"""The IMAP watcher into the real hub on SQLite: the cursor commits with the messages it covers,
so a server restart, a failed transaction or a new UIDVALIDITY never stores a mail twice nor
loses one; what a customer wrote becomes conversations, unreadable mail is kept for admins."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.email.imap import MailboxWatcher, cursor_name
from hub.channel_cursors import get_cursor
from hub.conversations.models import Conversation, Message
from hub.db import Database
from hub.raw_payloads import KeptPayload
from hub.runtime import Hub, HubOptions
from tests.channels.email.imap_side import BROKEN, Counting, Runner, mail, mailbox, until
from tests.dovecot import Dovecot, dovecot


@pytest.fixture
def server() -> Iterator[Dovecot]:
    with dovecot() as s:
        yield s


@pytest.fixture
def hub(sqlite_url: str) -> Iterator[Hub]:
    db = Database(sqlite_url)
    h = Hub(db, HubOptions(run_workers=False))
    yield h
    h.writer.close()
    db.dispose()


def stored(hub: Hub) -> tuple[list[str | None], int, int, str | None]:
    """(subjects of the email messages in id order, conversations, raw payloads kept, the cursor)."""
    with hub.db.read() as s:
        subjects = list(s.execute(select(Message.subject).where(Message.channel == "email")
                                  .order_by(Message.id)).scalars())  # type: ignore[arg-type]
        convs = s.execute(select(func.count()).select_from(Conversation)).scalar_one()
        raws = s.execute(select(func.count()).select_from(KeptPayload)).scalar_one()
        return subjects, convs, raws, get_cursor(s, "email:support@example.com:imap")


def test_a_backlog_with_unreadable_mail_and_a_server_restart_lands_once_each_in_order(
        server: Dovecot, hub: Hub) -> None:
    mails = [mail(n) for n in range(1, 121)]
    mails.insert(50, BROKEN)
    server.append(*mails)
    box = mailbox(server, batch=20)

    async def scenario() -> None:
        port = Counting(hub)
        restarted: list[int] = []

        def restart_once(created: int) -> None:
            if created == 70 and not restarted:
                restarted.append(created)
                server.restart()  # blocking the loop: the server goes away under the next fetch

        port.after_ingest = restart_once
        runner = Runner()
        runner.spawn("imap", MailboxWatcher(box, port).run)
        await until(lambda: port.created == 120, what="the whole backlog")
        await runner.stop()
        assert runner.errors and port.again == 0  # it failed, and still nothing came twice
        subjects, convs, raws, cursor = stored(hub)
        assert subjects == [f"Order {n}" for n in range(1, 121)]
        assert convs == 120 and raws == 1
        validity = await asyncio.to_thread(server.uidvalidity)
        assert cursor == f"{validity}:121"

    asyncio.run(scenario())


def test_the_cursor_stays_before_a_message_whose_transaction_failed(server: Dovecot, hub: Hub) -> None:
    server.append(*(mail(n) for n in range(1, 6)))
    box = mailbox(server)
    failed: list[str] = []

    decide = hub.router.decide

    def route_failing_once(session: Any, conv: Any, **kw: Any) -> Any:
        # A new conversation is routed inside its ingest transaction (a new sender's mail: routed
        # before it is written, hub.ingest.first): this one's rolls back, in the shared transaction
        # and again when the hub reruns it alone.
        if len(failed) < 2 and conv.subject == "Order 3":
            failed.append(conv.subject)
            raise RuntimeError("the database went away mid-transaction")
        return decide(session, conv, **kw)

    hub.router.decide = route_failing_once  # type: ignore[method-assign]

    async def scenario() -> None:
        runner = Runner()
        watcher = MailboxWatcher(box, hub)
        runner.spawn("imap", watcher.run)
        await until(lambda: len(stored(hub)[0]) == 5, what="all five")
        await runner.stop()
        validity = await asyncio.to_thread(server.uidvalidity)
        assert len(failed) == 2 and len(runner.errors) == 1 and "UID 3 not stored" in str(runner.errors[0])
        subjects, convs, _, cursor = stored(hub)
        assert sorted(subjects, key=lambda s: int(str(s).split()[1])) == [f"Order {n}" for n in range(1, 6)]
        assert convs == 5 and cursor == f"{validity}:5"

    asyncio.run(scenario())


def test_a_recreated_folder_is_read_again_and_only_new_mail_is_stored(server: Dovecot, hub: Hub) -> None:
    server.create("Support")
    server.append(*(mail(n) for n in range(1, 4)), folder="Support")
    box = mailbox(server, folder="Support")

    async def scenario() -> None:
        port = Counting(hub)
        runner = Runner()
        runner.spawn("imap", MailboxWatcher(box, port).run)
        await until(lambda: port.created == 3, what="the first three")
        await runner.stop()
        await asyncio.to_thread(server.recreate, "Support")
        await asyncio.to_thread(server.append, *(mail(n) for n in range(1, 5)), folder="Support")
        validity = await asyncio.to_thread(server.uidvalidity, "Support")
        runner = Runner()
        runner.spawn("imap", MailboxWatcher(box, port).run)
        await until(lambda: stored(hub)[3] == f"{validity}:4", what="the resync")
        await runner.stop()
        assert (port.created, port.again) == (4, 3)
        subjects, convs, _, _ = stored(hub)
        assert subjects == ["Order 1", "Order 2", "Order 3", "Order 4"] and convs == 4
        assert cursor_name(box) == "email:support@example.com:imap"

    asyncio.run(scenario())
