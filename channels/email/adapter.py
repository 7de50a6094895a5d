"""The email channel: the SMTP listener and IMAP mailboxes in, replies out through each mailbox's
SMTP server.

Mailboxes come from settings (config/hub.toml) and from the hub (admins add them in the console:
`HubPort.channel_accounts_async`); an address in both is the file's. `start(port, tasks)` opens
the listener when enabled and spawns one task per IMAP mailbox; `accounts_changed()` (the console
saved a mailbox, or every `refresh_seconds` for changes made through another process) restarts
the task of each mailbox whose settings changed and hands the listener the new set. `send()`
renders a reply from templates/email, with the agent's uploads attached; a reply an earlier
attempt of which may have gone out is first looked for in the mailbox's Sent folder.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime

from channels.email import sent_folder, smtp_out, tokens
from channels.email.accounts import mailbox_of
from channels.email.diagnose import check_imap, check_smtp
from channels.email.imap import MailboxWatcher, cursor_name
from channels.email.imap_client import ImapError
from channels.email.render import BadAddress, File, Quoted, Reply, render_reply
from channels.email.settings import EmailSettings, Mailbox
from channels.email.smtp_in import Listener
from hub.ports import (
    AccountCheck,
    BaseAdapter,
    ChannelAccount,
    EntryPoint,
    HubPort,
    Outbound,
    OutboundMessage,
    PermanentError,
    SendResult,
    TaskRunner,
    TransientError,
)

logger = logging.getLogger(__name__)


class EmailAdapter(BaseAdapter):
    channel = "email"
    address_kind = "email"  # the hub fills `Outbound.to` with the contact's email address
    # Another process's edits of the stored mailboxes are taken up within this long.
    refresh_seconds = 60.0

    def __init__(self, settings: EmailSettings) -> None:
        self.configured = settings.mailboxes  # from the settings file: these win over stored ones
        self.settings = settings
        self.listener: Listener | None = None
        self.watchers: dict[str, MailboxWatcher] = {}  # task name -> its watcher (kept across restarts)
        self._changed: dict[str, asyncio.Event] = {}  # task name -> set when its mailbox changed
        self._tasks: TaskRunner | None = None
        self._reload = asyncio.Lock()

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        self.port, self._tasks = port, tasks
        await self._take(await self._stored())
        if self.settings.listener.enabled and self.listener is None:
            self.listener = Listener(self.settings, port)
            await self.listener.start()
        tasks.spawn("mailboxes", self._refresh_loop)

    async def stop(self) -> None:
        self.watchers.clear()  # their tasks belong to the hub's TaskRunner, which stops them
        self._changed.clear()
        self._tasks = None
        if self.listener is not None:
            listener, self.listener = self.listener, None
            await listener.stop()

    async def accounts_changed(self) -> None:
        if self.port is not None and self._tasks is not None:
            await self._take(await self._stored())

    async def check_account(self, account: ChannelAccount, lang: str) -> list[AccountCheck]:
        box = mailbox_of(account)
        checks = [await check_smtp(box.smtp)]
        if box.imap is not None:
            checks.append(await check_imap(box.imap))
        return [AccountCheck(c.ok, c.key, c.text(lang), c.detail) for c in checks]

    async def _stored(self) -> tuple[Mailbox, ...]:
        assert self.port is not None
        limit = self.settings.listener.max_bytes
        return tuple(mailbox_of(a, max_bytes=limit) for a in await self.port.channel_accounts_async(self.channel))

    async def _take(self, stored: tuple[Mailbox, ...]) -> None:
        """Run with the file's mailboxes plus `stored`: restart watchers whose mailbox changed."""
        async with self._reload:
            mine = {box.address for box in self.configured}
            boxes = self.configured + tuple(box for box in stored if box.address not in mine)
            self.settings = replace(self.settings, mailboxes=boxes)
            if self.listener is not None:
                self.listener.handler.use(self.settings)
            wanted = {cursor_name(box): box for box in boxes if box.imap is not None}
            ours = tuple(box.address for box in boxes)
            for name, watcher in list(self.watchers.items()):
                if wanted.get(name) != watcher.mailbox or watcher.addresses != ours:
                    del self.watchers[name]
                    self._changed[name].set()
            for name, box in wanted.items():
                if name not in self.watchers:
                    self.watchers[name] = MailboxWatcher(box, self.port, our_addresses=ours)  # type: ignore[arg-type]
                if name not in self._changed and self._tasks is not None:
                    self._changed[name] = asyncio.Event()
                    self._tasks.spawn(name, lambda name=name: self._watch(name))  # type: ignore[misc]

    async def _watch(self, name: str) -> None:
        """One mailbox's task: its watcher until the mailbox changes, then the new one; idle
        while the mailbox is gone (a task cannot be taken back from the runner)."""
        while True:
            changed = self._changed.get(name)
            watcher = self.watchers.get(name)
            if changed is None:
                return
            changed.clear()
            if watcher is None:
                await changed.wait()
                continue
            running = asyncio.ensure_future(watcher.run())
            waiting = asyncio.ensure_future(changed.wait())
            try:
                await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (running, waiting):
                    task.cancel()
                await asyncio.gather(running, waiting, return_exceptions=True)
            if running.done() and not running.cancelled() and running.exception() is not None:
                raise running.exception()  # type: ignore[misc]
            logger.info("email: mailbox task %s takes up its new settings", name)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            await self.accounts_changed()

    def mailbox(self, source: str) -> Mailbox:
        """The mailbox a reply leaves from: the one the customer wrote to, else the first."""
        box = self.settings.mailbox_for(source) if source else None
        if box is None and self.settings.mailboxes:
            box = self.settings.mailboxes[0]
        if box is None:
            raise PermanentError("no mailbox to send from (add one in the console's settings, or email.mailboxes)")
        return box

    def sources(self) -> tuple[EntryPoint, ...]:
        """The mailboxes a new email may leave from: the settings file's first, then stored ones."""
        return tuple(EntryPoint(box.address, box.display_name) for box in self.settings.mailboxes)

    def send_key(self, item: OutboundMessage) -> str | None:
        """The Message-ID `item` goes out with, on every attempt: the hub stores it before the
        first one (`BaseAdapter.send_key`)."""
        try:
            box = self.mailbox(item.source)
        except PermanentError:
            return None  # the send will say why
        return tokens.message_id(box.domain, self.settings.secret, str(item.outbox_id))

    async def send(self, item: Outbound) -> SendResult:
        if not isinstance(item, OutboundMessage):
            raise PermanentError("the email channel places no calls")
        box = self.mailbox(item.source)
        files = await self._files(item)
        try:
            rendered = render_reply(reply_of(item, files), box, secret=self.settings.secret)
        except BadAddress as exc:
            raise PermanentError(str(exc)) from exc
        sent = SendResult(provider_id=rendered.message_id, status="sent", thread_keys=rendered.thread_keys)
        if item.outcome_unknown and await self._in_sent_folder(box, rendered.message_id):
            logger.warning("email: outbox item %s is in the Sent folder already as %s: recorded, not sent again",
                           item.outbox_id, rendered.message_id)
            return sent
        await smtp_out.send(box.smtp, rendered.message, sender=box.address, recipients=rendered.recipients)
        if box.imap is not None and box.imap.append_sent:
            await sent_folder.file_copy(box.imap, rendered.message)
        return sent

    async def _in_sent_folder(self, box: Mailbox, message_id: str) -> bool:
        """An earlier attempt may have gone out: is it in the mailbox's Sent folder? Without IMAP,
        or when the folder cannot be read, the mail is sent again (under the same Message-ID)."""
        if box.imap is None:
            return False
        try:
            return await sent_folder.holds(box.imap, message_id)
        except ImapError as exc:
            logger.warning("email: the Sent folder of %s could not be searched for %s (%s): sending it again",
                           box.address, message_id, exc.words)
            return False

    async def _files(self, item: OutboundMessage) -> tuple[File, ...]:
        stored = [a for a in item.attachments if a.id is not None]
        if not stored:
            return ()
        if self.port is None:
            raise TransientError("the email channel is not running yet: its files cannot be read")
        return tuple([File(a.filename or "attachment", a.content_type or "application/octet-stream",
                           await self.port.open_attachment_async(a)) for a in stored])


def reply_of(item: OutboundMessage, files: tuple[File, ...] = ()) -> Reply:
    """The reply to render. The agent's name, CC and the message answered come in `metadata`
    (`agent_name`, `cc`, `quoted: {at, name, text}`)."""
    meta = item.metadata or {}
    q = meta.get("quoted")
    quoted = Quoted(datetime.fromisoformat(q["at"]), str(q.get("name") or ""), str(q.get("text") or "")) \
        if isinstance(q, dict) and q.get("at") else None
    return Reply(
        to=item.to,
        text=item.text,
        subject=item.subject,
        html=item.html,
        agent_name=meta.get("agent_name"),
        cc=tuple(str(c) for c in meta.get("cc") or ()),
        thread_keys=item.thread_keys,
        quoted=quoted,
        files=files,
        new_conversation=not item.thread_keys,
        seed=str(item.outbox_id),
        message_id=item.send_key,
    )
