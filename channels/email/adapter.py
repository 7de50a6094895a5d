"""The email channel: the SMTP listener in, replies out through each mailbox's SMTP server.

Lifecycle as agreed for ports v2: `start(port, tasks)` opens the listener when enabled and spawns
one task per IMAP mailbox on `tasks` (the hub restarts a failed one with backoff; it resumes from its
cursor), `stop()` closes the listener, `send()` renders and sends a reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from channels.email import smtp_out
from channels.email.imap import MailboxWatcher, cursor_name
from channels.email.inbound import EmailPort
from channels.email.render import BadAddress, Quoted, Reply, render_reply
from channels.email.settings import EmailSettings, Mailbox
from channels.email.smtp_in import Listener
from hub.ports import OutboundMessage, PermanentError, SendResult


class TaskRunner(Protocol):
    """What `start` is given to run inbound work on (ports v2: `hub.ports.TaskRunner`)."""

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None: ...


class EmailAdapter:
    channel = "email"
    address_kind = "email"  # the hub fills `Outbound.to` with the contact's email address

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.listener: Listener | None = None
        self.watchers: dict[str, MailboxWatcher] = {}

    def routes(self) -> Sequence[Any]:
        return []

    async def start(self, port: EmailPort, tasks: TaskRunner) -> None:
        if self.settings.listener.enabled and self.listener is None:
            self.listener = Listener(self.settings, port)
            await self.listener.start()
        ours = tuple(box.address for box in self.settings.mailboxes)
        for box in self.settings.mailboxes:
            name = cursor_name(box)
            if box.imap is not None and name not in self.watchers:
                self.watchers[name] = watcher = MailboxWatcher(box, port, our_addresses=ours)
                tasks.spawn(name, watcher.run)

    async def stop(self) -> None:
        self.watchers.clear()  # their tasks belong to the hub's TaskRunner, which stops them
        if self.listener is not None:
            listener, self.listener = self.listener, None
            await listener.stop()

    def mailbox(self, source: str) -> Mailbox:
        """The mailbox a reply leaves from: the one the customer wrote to, else the first."""
        box = self.settings.mailbox_for(source) if source else None
        if box is None and self.settings.mailboxes:
            box = self.settings.mailboxes[0]
        if box is None:
            raise PermanentError("no mailbox to send from (configure email.mailboxes)")
        return box

    async def send(self, item: OutboundMessage) -> SendResult:
        box = self.mailbox(item.source)
        try:
            rendered = render_reply(reply_of(item), box, secret=self.settings.secret)
        except BadAddress as exc:
            raise PermanentError(str(exc)) from exc
        await smtp_out.send(box.smtp, rendered.message, sender=box.address, recipients=rendered.recipients)
        return SendResult(provider_id=rendered.message_id, status="sent", thread_keys=rendered.thread_keys)


def reply_of(item: OutboundMessage) -> Reply:
    """The reply to render. The agent's name, CC and the message answered come in `metadata`
    (`agent_name`, `cc`, `quoted: {at, name, text}`) until the port names them."""
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
        new_conversation=not item.thread_keys,
        seed=str(item.outbox_id),
    )
