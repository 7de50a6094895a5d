"""An in-memory `HubPort` (no database) and a `TaskRunner` that restarts at once: a channel is
written and tested against these first (tests/fakes/contract.py), then against the real hub.

The whole port, as the hub keeps it (hub/ports.py): ingest with redelivery as a no-op, thread keys
(strong ones whoever writes, weak ones only for the conversation's own customer, own keys recorded;
otherwise the sender's latest conversation on the channel and entry point), cursors stored with a
message or alone, raw payloads kept (also a rejected message's `raw`), per-channel opt-outs of known
addresses, files kept and read back (attachments), a customer's feed of the public events
(their messages and the replies sent), the contact an external reference names, typing hints
(`customer_typing` records the customer's; `agent_types` plays an agent's to the listeners), and
queue places (`queue_for` sets one, `assign` ends it with the feed's "conversation.assigned"),
what customers saw (`customer_reads`), agents online per team (`online`, set by tests), and emails
customers typed in (`claims`, never an identity; another customer's is also `suggested`).

What adapters hand in is recorded: `ingested` (first copies, in order), `delivery_updates`,
`opt_outs`, `cursors`, `raws`; `send` records what an adapter made of an outgoing item, and its
thread keys, as the delivery worker would. `fail_next` makes the next ingests fail the way a
database restart does (or as `RejectedMessage`, whose `raw` is then kept).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from hub.channel_tasks import Backoff, ChannelTasks, TaskState
from hub.ports import (
    THREAD_KEY_MAX,
    Attachment,
    AttachmentRefused,
    AttachmentTooLarge,
    ChannelAccount,
    ChannelAdapter,
    ContactRef,
    Cursor,
    DeliveryUpdate,
    FileToKeep,
    HubPort,
    InboundMessage,
    IngestResult,
    Outbound,
    OutboundMessage,
    PermanentError,
    PublicEvent,
    QueueStatus,
    RawPayload,
    RejectedMessage,
    SendResult,
    TransientError,
)


@dataclass(frozen=True)
class Sent:
    """What an adapter made of an outgoing item: its result, or the port error it raised."""

    item: Outbound
    result: SendResult | None
    error: TransientError | PermanentError | None


def _addresses(contact: ContactRef) -> dict[str, str]:
    """The contact's addresses by identity kind ("email", "phone", "external_ref")."""
    found = {"email": contact.email, "phone": contact.phone, "external_ref": contact.external_ref}
    return {kind: value for kind, value in found.items() if value}


class FakeHubPort(HubPort):
    def __init__(self, *, api_keys: tuple[str, ...] = (), attachment_max_bytes: int = 25 * 1024 * 1024) -> None:
        self.api_keys = set(api_keys)
        self.attachment_max_bytes = attachment_max_bytes
        self.files: dict[int, bytes] = {}  # attachment id -> its bytes
        self.ingested: list[InboundMessage] = []
        self.delivery_updates: list[DeliveryUpdate] = []
        self.opt_outs: dict[tuple[str, str], tuple[bool, str]] = {}  # (channel, address) -> (opted out, reason)
        self.cursors: dict[str, str] = {}
        self.raws: list[RawPayload] = []
        self.sent: list[Sent] = []
        self.thread_keys: dict[tuple[str, str], int] = {}  # (channel, key) -> conversation id
        self._results: dict[tuple[str, str], IngestResult] = {}
        self._latest: dict[tuple[str, str, int], int] = {}  # (channel, source, contact) -> conversation
        self._contacts: dict[tuple[str, str], int] = {}  # (kind, address) -> contact id
        self._owner: dict[int, int] = {}  # conversation id -> contact id
        self._events: list[PublicEvent] = []
        self._moved = asyncio.Event()
        self._ids = itertools.count(1)
        self._conversation_ids = itertools.count(1)
        self._contact_ids = itertools.count(1)
        self._failures: list[Exception] = []
        self.customer_typing: list[int] = []  # conversation ids, in order
        self._typing_listeners: set[Callable[[int, str], None]] = set()
        self.accounts: list[ChannelAccount] = []  # what admins stored, as the hub hands them over
        self.resolved: set[int] = set()  # conversations resolved and not rated since (`resolve`)
        self.ratings: list[tuple[int, int, str | None]] = []  # (conversation id, score, comment)
        self.queue: dict[int, QueueStatus] = {}  # conversation id -> where it waits (`queue_for`)
        self.online: dict[str | None, int] = {}  # team name (None: anywhere) -> agents online
        self.suggested: list[tuple[int, int]] = []  # (contact, the other contact with its typed address)
        self.claims: dict[int, str] = {}  # contact -> the email address they claimed (claim_email_async)
        self.customer_reads: dict[int, int] = {}  # conversation id -> the reply the customer saw up to
        self.queue_asked: list[int] = []  # conversation ids, each time `queue_status_async` was asked

    def fail_next(self, times: int = 1, error: Exception | None = None) -> None:
        """The next `times` ingests raise `error` (default: the database is restarting)."""
        self._failures.extend([error or ConnectionError("the database is restarting")] * times)

    # -- HubPort -------------------------------------------------------------------------------

    def ingest(self, message: InboundMessage) -> IngestResult:
        if self._failures:
            error = self._failures.pop(0)
            if isinstance(error, RejectedMessage) and message.raw is not None:
                self.raws.append(RawPayload(message.channel, message.source, str(error), message.raw,
                                            message.raw_content_type, message.external_id))
            raise error
        if message.cursor is not None:  # with the message, a redelivery too
            self.cursors[message.cursor.name] = message.cursor.value
        key = (message.ingest_scope, message.external_id)
        if (first := self._results.get(key)) is not None:
            return IngestResult(first.message_id, first.conversation_id, first.contact_id, created=False)
        message = replace(message, attachments=tuple(  # kept files get their ids with the message, as in the hub
            replace(a, url=f"/api/v1/attachments/{a.kept}", id=int(a.kept), kept=None) if a.kept else a
            for a in message.attachments))
        contact_id = self._contact(message.contact)
        conversation_id = self._thread(message, contact_id)
        self._owner.setdefault(conversation_id, contact_id)  # the customer who started it
        if self._owner[conversation_id] == contact_id:
            self._latest[(message.channel, message.source, contact_id)] = conversation_id
        self._record_keys(message.channel, message.own_thread_keys, conversation_id)
        result = self._results[key] = IngestResult(next(self._ids), conversation_id, contact_id, created=True)
        self.ingested.append(message)
        self._publish("message.created", conversation_id, {
            "id": result.message_id, "direction": "in", "text": message.text, "html": message.html,
            "subject": message.subject, "attachments": [a.as_dict() for a in message.attachments]})
        return result

    async def ingest_async(self, message: InboundMessage) -> IngestResult:
        await asyncio.sleep(0)  # a hand-off, as the real writer's
        return self.ingest(message)

    def check_api_key(self, secret: str) -> bool:
        return secret in self.api_keys

    async def check_api_key_async(self, secret: str) -> bool:
        return self.check_api_key(secret)

    def apply_delivery_update(self, update: DeliveryUpdate) -> bool:
        self.delivery_updates.append(update)
        return True

    async def set_opt_out_async(self, channel: str, address: str, opted_out: bool, reason: str) -> None:
        if any(known == address for _, known in self._contacts):  # an unknown address: no-op, as the hub
            self.opt_outs[(channel, address)] = (opted_out, reason)

    async def cursor_async(self, name: str) -> str | None:
        return self.cursors.get(name)

    async def set_cursor_async(self, cursor: Cursor) -> None:
        self.cursors[cursor.name] = cursor.value

    async def keep_raw_async(self, raw: RawPayload) -> None:
        self.raws.append(raw)

    async def customer_feed(self, contact_id: int, after_event_id: int) -> AsyncIterator[PublicEvent]:
        seen = after_event_id
        while True:
            if not (new := [e for e in self._events if e.id > seen]):
                self._moved.clear()  # nothing awaited since the read: no event slips between
                await self._moved.wait()
                continue
            for event in new:
                seen = event.id
                if self._owner.get(event.conversation_id) == contact_id:
                    yield event

    async def find_contact_async(self, scope: str, external_ref: str) -> int | None:
        return self._contacts.get(("external_ref", external_ref.strip()))  # one scope: the fake's refs are global

    async def customer_typing_async(self, conversation_id: int) -> None:
        self.customer_typing.append(conversation_id)

    def on_agent_typing(self, listener: Callable[[int, str], None]) -> Callable[[], None]:
        self._typing_listeners.add(listener)
        return lambda: self._typing_listeners.discard(listener)

    def agent_types(self, conversation_id: int, agent_name: str) -> None:
        """An agent types a reply in this conversation (the hub's typing hint)."""
        for listener in list(self._typing_listeners):
            listener(conversation_id, agent_name)

    async def agents_online_async(self, team: str | None) -> int:
        return self.online.get(team, 0)

    async def claim_email_async(self, scope: str, external_ref: str, email: str) -> None:
        if "@" not in email or email != email.strip():  # the hub checks with email-validator
            raise RejectedMessage(f"not an email address: {email!r}")
        contact_id = self._contacts.get(("external_ref", external_ref.strip()))
        if contact_id is None:
            raise RejectedMessage("this visitor has not written yet: send the address with a message")
        # A claim, never an identity: no message is ever filed under it (hub/contacts/claims.py).
        self.claims[contact_id] = email.lower()
        owner = self._contacts.get(("email", email.lower()))
        if owner is not None and owner != contact_id:
            self.suggested.append((contact_id, owner))  # never merged

    async def customer_read_async(self, conversation_id: int, upto_message_id: int) -> None:
        known = self._owner.get(conversation_id) is not None
        if known and upto_message_id > self.customer_reads.get(conversation_id, 0):
            self.customer_reads[conversation_id] = upto_message_id

    async def queue_status_async(self, conversation_id: int) -> QueueStatus | None:
        self.queue_asked.append(conversation_id)
        return self.queue.get(conversation_id)

    def queue_for(self, conversation_id: int, position: int, wait_seconds: float | None,
                  agents_online: int = 1) -> None:
        """The conversation waits at `position` (what the hub's routing would say)."""
        self.queue[conversation_id] = QueueStatus(conversation_id, position, wait_seconds, agents_online)

    def assign(self, conversation_id: int, agent_name: str) -> None:
        """An agent takes the conversation: it no longer waits, and its customer's feed says who."""
        self.queue.pop(conversation_id, None)
        self._publish("conversation.assigned", conversation_id, {"agent_name": agent_name})

    async def rate_conversation_async(self, contact_id: int, conversation_id: int, score: int,
                                      comment: str | None) -> None:
        if self._owner.get(conversation_id) != contact_id:
            raise RejectedMessage(f"conversation {conversation_id} is not one of this customer's")
        if conversation_id not in self.resolved:
            raise RejectedMessage("only a resolved conversation is rated, once per resolution")
        if score not in range(1, 6):
            raise RejectedMessage("score: a whole number from 1 to 5")
        self.resolved.discard(conversation_id)
        self.ratings.append((conversation_id, score, comment))
        self._publish("conversation.rated", conversation_id, {"score": score, "comment": comment})

    def resolve(self, conversation_id: int) -> None:
        """An agent resolves the conversation: its customer may rate it (once)."""
        self.resolved.add(conversation_id)
        self._publish("conversation.resolved", conversation_id, {})

    async def store_attachment_async(self, content: bytes, content_type: str | None, filename: str | None, *,
                                     cid: str | None = None, accept: frozenset[str] | None = None) -> Attachment:
        if len(content) > self.attachment_max_bytes:
            raise AttachmentTooLarge(f"a file over {self.attachment_max_bytes} bytes", self.attachment_max_bytes)
        if accept is not None and (content_type or "application/octet-stream") not in accept:
            raise AttachmentRefused(f"files of type {content_type} are not taken here",
                                    content_type or "application/octet-stream")
        file_id = len(self.files) + 1
        self.files[file_id] = content  # the type is taken as declared: the fake reads no bytes' magic
        return Attachment(f"/api/v1/attachments/{file_id}", content_type or "application/octet-stream",
                          filename or f"attachment-{file_id}", len(content), (cid or "").strip("<>") or None, file_id)

    async def keep_file_async(self, content: bytes, content_type: str | None, filename: str | None, *,
                              cid: str | None = None, accept: frozenset[str] | None = None,
                              whole_message: bool = False) -> Attachment:
        kept = await self.store_attachment_async(content, content_type, filename, cid=cid, accept=accept)
        return replace(kept, url=None, id=None, kept=str(kept.id))  # its id comes with the message

    async def keep_files_async(self, files: Sequence[FileToKeep], *,
                               settle: bool = True) -> list[Attachment | RejectedMessage]:
        kept: list[Attachment | RejectedMessage] = []
        for f in files:
            try:
                kept.append(await self.keep_file_async(f.content, f.content_type, f.filename, cid=f.cid,
                                                       accept=f.accept, whole_message=f.whole_message))
            except RejectedMessage as exc:
                kept.append(exc)
        return kept

    async def settle_files_async(self, files: Sequence[Attachment]) -> None:
        """Files in memory are as durable as they get here."""

    async def open_attachment_async(self, attachment: Attachment) -> bytes:
        if attachment.id is None or attachment.id not in self.files:
            raise PermanentError(f"the hub has no file {attachment.filename or attachment.url!r}")
        return self.files[attachment.id]

    async def channel_accounts_async(self, channel: str) -> tuple[ChannelAccount, ...]:
        return tuple(sorted((a for a in self.accounts if a.channel == channel), key=lambda a: a.name))

    # -- the delivery worker's side ------------------------------------------------------------

    async def send(self, adapter: ChannelAdapter, item: Outbound) -> Sent:
        """`adapter.send(item)`, recorded, with the thread keys of its result and, for a text
        reply, its public event. Anything but a `SendResult` or a port error raises."""
        try:
            sent = Sent(item, await adapter.send(item), None)
        except (TransientError, PermanentError) as exc:
            sent = Sent(item, None, exc)
        self.sent.append(sent)
        if sent.result is not None and item.conversation_id is not None:
            self._record_keys(adapter.channel, sent.result.thread_keys, item.conversation_id)
            if isinstance(item, OutboundMessage):
                self._publish("message.created", item.conversation_id, {
                    "id": item.message_id, "direction": "out", "text": item.text, "html": item.html,
                    "subject": item.subject, "attachments": [a.as_dict() for a in item.attachments]})
        return sent

    # -- inside --------------------------------------------------------------------------------

    def _contact(self, contact: ContactRef) -> int:
        addresses = _addresses(contact).items()
        known = next((self._contacts[a] for a in addresses if a in self._contacts), None)
        contact_id = known or next(self._contact_ids)
        for address in addresses:
            self._contacts.setdefault(address, contact_id)
        return contact_id

    def _thread(self, message: InboundMessage, contact_id: int) -> int:
        for key in message.thread_keys:
            if (found := self.thread_keys.get((message.channel, key))) is not None:
                return found
        for key in message.weak_thread_keys:
            found = self.thread_keys.get((message.channel, key))
            if found is not None and self._owner.get(found) == contact_id:
                return found
        latest = self._latest.get((message.channel, message.source, contact_id))
        return latest if latest is not None else next(self._conversation_ids)

    def _record_keys(self, channel: str, keys: tuple[str, ...], conversation_id: int) -> None:
        for key in keys:
            if len(key) <= THREAD_KEY_MAX:
                self.thread_keys.setdefault((channel, key), conversation_id)

    def _publish(self, type_: str, conversation_id: int, data: dict[str, object]) -> None:
        self._events.append(PublicEvent(len(self._events) + 1, type_, conversation_id, datetime.now(UTC), data))
        self._moved.set()


class FakeTaskRunner:
    """Runs what an adapter spawns the way the hub does (hub.channel_tasks), restarting a failed
    task at once instead of after a backoff."""

    def __init__(self, channel: str = "fake") -> None:
        self.tasks = ChannelTasks(backoff=Backoff(first=0.0, longest=0.0))
        self.channel = channel
        self._runner = self.tasks.runner(channel)

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self._runner.spawn(name, run)

    def states(self) -> tuple[TaskState, ...]:
        [channel] = self.tasks.states()
        return channel.tasks

    async def stop(self) -> None:
        await self.tasks.stop()
