"""The IMAP watcher against a real Dovecot and an in-memory port: IDLE, backlog order, a server
restart mid-fetch, a UIDVALIDITY change, unreadable mail, a failed ingest. Every mail arrives
once, in order, none skipped."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from channels.email.adapter import EmailAdapter
from channels.email.imap import MailboxWatcher, cursor_name
from channels.email.imap_client import ImapSession
from channels.email.settings import EmailSettings
from hub.ports import Cursor
from tests.channels.email.imap_side import BROKEN, FakePort, Runner, mail, mailbox, until
from tests.dovecot import Dovecot, dovecot


@pytest.fixture
def server() -> Iterator[Dovecot]:
    with dovecot() as s:
        yield s


def watch(port: FakePort, watcher: MailboxWatcher) -> Runner:
    runner = Runner()
    runner.spawn(watcher.cursor_name, watcher.run)
    return runner


def test_the_adapter_watches_each_imap_mailbox_and_idle_brings_new_mail_without_polling(server: Dovecot) -> None:
    server.append(mail(1))
    box = mailbox(server, poll_seconds=300.0)  # polling could not explain an arrival within seconds

    async def scenario() -> None:
        port, runner = FakePort(), Runner()
        adapter = EmailAdapter(EmailSettings(mailboxes=(box,)))
        await adapter.start(port, runner)
        assert list(runner.tasks) == [cursor_name(box), "mailboxes"]  # one per IMAP mailbox, and the reloader
        watcher = adapter.watchers[cursor_name(box)]
        await until(lambda: len(port.committed) == 1, what="the waiting mail")
        session = watcher.session
        await until(lambda: session is not None and session.client is not None and session.client.has_pending_idle(),
                    what="IDLE")
        await asyncio.to_thread(server.append, mail(2))
        took = await until(lambda: len(port.committed) == 2, within=5, what="the new mail")
        assert took < 3
        assert port.subjects == ["Order 1", "Order 2"]
        m = port.committed[1]
        assert (m.channel, m.source, m.ingest_scope, m.external_id) == (
            "email", "support@example.com", "email:support@example.com", "<order-2@example.net>")
        assert m.raw == mail(2) and m.raw_content_type == "message/rfc822"
        validity = await asyncio.to_thread(server.uidvalidity)
        assert port.cursors == {"email:support@example.com:imap": f"{validity}:2"}
        await runner.stop()
        await adapter.stop()

    asyncio.run(scenario())


class WithoutIdle(ImapSession):
    """A server that does not offer IDLE (as some hosted mailboxes)."""

    @property
    def idle(self) -> bool:
        return False


def test_without_idle_the_folder_is_polled(server: Dovecot) -> None:
    box = mailbox(server, poll_seconds=0.2)

    async def scenario() -> None:
        port = FakePort()
        watcher = MailboxWatcher(box, port, session=WithoutIdle)
        runner = watch(port, watcher)
        await until(lambda: watcher.session is not None and watcher.session.client is not None, what="connected")
        await asyncio.to_thread(server.append, mail(1))
        await until(lambda: len(port.committed) == 1, within=5, what="the polled mail")
        assert watcher.session is not None and watcher.session.client is not None
        assert not watcher.session.client.has_pending_idle()
        await runner.stop()
        assert runner.errors == []

    asyncio.run(scenario())


def test_a_backlog_arrives_in_order_in_batches_and_a_restart_fetches_nothing_again(server: Dovecot) -> None:
    server.append(*(mail(n) for n in range(1, 251)))
    box = mailbox(server, batch=40)

    async def scenario() -> None:
        port = FakePort()
        runner = watch(port, MailboxWatcher(box, port))
        await until(lambda: len(port.committed) == 250, what="the backlog")
        await runner.stop()
        assert port.subjects == [f"Order {n}" for n in range(1, 251)]
        assert port.calls == 250
        # A new watcher (a hub restarted) starts from the stored cursor: nothing is fetched again.
        again = MailboxWatcher(box, port)
        await asyncio.to_thread(server.append, mail(251))
        runner = watch(port, again)
        await until(lambda: len(port.committed) == 251, what="the mail after the restart")
        await runner.stop()
        assert again.fetched == 1 and port.calls == 251

    asyncio.run(scenario())


def test_a_server_restart_mid_fetch_resumes_with_nothing_twice_and_nothing_skipped(server: Dovecot) -> None:
    server.append(*(mail(n) for n in range(1, 301)))
    box = mailbox(server, batch=25)
    stopped = threading.Event()

    async def scenario() -> None:
        port = FakePort()

        def stop_server_once(count: int) -> None:
            if count == 60 and not stopped.is_set():
                stopped.set()
                server.stop()  # here and now (blocking the loop): the next batch is on the wire

        port.after_ingest = stop_server_once
        runner = watch(port, MailboxWatcher(box, port))
        await until(lambda: stopped.is_set() and len(runner.errors) >= 2, what="the watcher failing while down")
        down_at = len(port.committed)
        await asyncio.to_thread(server.start)
        await until(lambda: len(port.committed) == 300, what="the rest after the restart")
        await runner.stop()
        assert 60 <= down_at < 300
        assert port.subjects == [f"Order {n}" for n in range(1, 301)]
        assert port.calls == 300  # no message handed to the hub twice

    asyncio.run(scenario())


def test_a_new_uidvalidity_reads_the_folder_again_without_storing_anything_twice(server: Dovecot) -> None:
    server.create("Support")
    server.append(mail(1), mail(2), mail(3, message_id=False), folder="Support")
    box = mailbox(server, folder="Support")

    async def scenario() -> None:
        port = FakePort()
        runner = watch(port, MailboxWatcher(box, port))
        await until(lambda: len(port.committed) == 3, what="the first three")
        await runner.stop()
        before = port.cursors[cursor_name(box)]
        # The folder is recreated (a migration, a restore): same mail, new UIDs, new UIDVALIDITY.
        await asyncio.to_thread(server.recreate, "Support")
        await asyncio.to_thread(server.append, mail(1), mail(2), mail(3, message_id=False), mail(4), folder="Support")
        validity = await asyncio.to_thread(server.uidvalidity, "Support")
        assert before.split(":")[0] != str(validity)
        runner = watch(port, MailboxWatcher(box, port))
        await until(lambda: port.cursors[cursor_name(box)] == f"{validity}:4", what="the resync")
        await runner.stop()
        assert port.subjects == ["Order 1", "Order 2", "Order 3", "Order 4"]
        assert port.committed[2].external_id.startswith("sha256:")  # no Message-ID: the content hash

    asyncio.run(scenario())


def test_unreadable_mail_is_kept_raw_and_the_next_one_still_arrives(server: Dovecot) -> None:
    server.append(mail(1), BROKEN, mail(2), mail(3), BROKEN.replace(b"broken", b"broken-2"))
    box = mailbox(server)

    async def scenario() -> None:
        port = FakePort(refuse={"<order-2@example.net>"})
        runner = watch(port, MailboxWatcher(box, port))
        validity = await asyncio.to_thread(server.uidvalidity)
        await until(lambda: port.cursors.get(cursor_name(box)) == f"{validity}:5", what="the whole folder")
        await runner.stop()
        assert port.subjects == ["Order 1", "Order 3"]
        kept = sorted((k.external_id or "", k.reason, k.content_type, k.source) for k in port.kept)
        assert [k[1:] for k in kept] == [
            ("rejected", "message/rfc822", "support@example.com"),  # <order-2@...>: refused by the hub
            ("no From header", "message/rfc822", "support@example.com"),
            ("no From header", "message/rfc822", "support@example.com")]
        assert BROKEN in [k.payload for k in port.kept] and runner.errors == []

    asyncio.run(scenario())


def test_a_message_the_hub_fails_to_store_is_fetched_again_and_nothing_after_it_is_lost(server: Dovecot) -> None:
    server.append(*(mail(n) for n in range(1, 11)))
    box = mailbox(server)

    async def scenario() -> None:
        port = FakePort(fail_once={"<order-4@example.net>"})
        watcher = MailboxWatcher(box, port)
        runner = watch(port, watcher)
        await until(lambda: len(port.committed) == 10, what="all ten")
        await runner.stop()
        # The others went on in the failed round; 4 came in on the next one.
        assert port.subjects == [f"Order {n}" for n in (1, 2, 3, 5, 6, 7, 8, 9, 10, 4)]
        assert len(runner.errors) == 1 and "UID 4 not stored" in str(runner.errors[0])
        # 5..10 were committed in the failed round (their cursor passed 4): the round after the
        # failure started again at 4, so they were handed over twice and found stored.
        assert port.calls == 10 + 1 + 6

    asyncio.run(scenario())


def test_a_message_the_hub_can_never_store_is_kept_raw_after_a_few_tries_and_the_mailbox_goes_on(
        server: Dovecot) -> None:
    server.append(*(mail(n) for n in range(1, 6)))
    box = mailbox(server)

    async def scenario() -> None:
        port = FakePort(fail_always={"<order-2@example.net>"})
        watcher = MailboxWatcher(box, port)
        watcher.give_up_after = 3
        runner = watch(port, watcher)
        validity = await asyncio.to_thread(server.uidvalidity)
        await until(lambda: port.cursors.get(cursor_name(box)) == f"{validity}:5" and not runner.errors[2:]
                    and len(port.kept) == 1, what="the mailbox passing UID 2")
        await asyncio.to_thread(server.append, mail(6))
        await until(lambda: len(port.committed) == 5, what="the next mail")
        await runner.stop()
        assert len(runner.errors) == 2  # the third failure was the last: kept raw, not raised
        assert port.subjects == ["Order 1", "Order 3", "Order 4", "Order 5", "Order 6"]
        assert port.kept[0].external_id == "<order-2@example.net>" and port.kept[0].payload == mail(2)
        assert port.kept[0].reason.startswith("the hub failed to store it 3 times: RuntimeError: a bug in the hub")


class DatabaseDown(FakePort):
    async def set_cursor_async(self, cursor: Cursor) -> None:
        raise RuntimeError("the database is down")


def test_while_the_database_is_down_no_mail_is_ever_passed(server: Dovecot) -> None:
    server.append(mail(1), mail(2))
    box = mailbox(server)

    async def scenario() -> None:
        port = DatabaseDown(fail_always={"<order-1@example.net>", "<order-2@example.net>"})
        watcher = MailboxWatcher(box, port)
        watcher.give_up_after = 2
        runner = watch(port, watcher)
        await until(lambda: len(runner.errors) >= 6, what="six failed rounds")
        await runner.stop()
        assert port.kept == [] and port.cursors == {} and watcher.floor == (await asyncio.to_thread(
            server.uidvalidity), 0)

    asyncio.run(scenario())
