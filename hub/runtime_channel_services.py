"""What the running hub offers channels beside ingest (hub.ports.HubPort): opt-outs, cursors, raw
payloads, typing hints, contact lookup, the customer feed, queue status, files and channel
accounts. (A mixin of hub.runtime.Hub.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import BinaryIO

from sqlmodel import Session

from hub.attachments import actions as attachment_actions
from hub.attachments.files import Kept
from hub.attachments.models import StoredAttachment
from hub.attachments.settling import Settling
from hub.blobs import BlobNotFound
from hub.channel_accounts.actions import port_accounts
from hub.channel_accounts.crypto import SecretBox
from hub.channel_cursors import do_store_cursor, get_cursor
from hub.contacts.actions import find_by_identity, normalize_email, ref_kind
from hub.contacts.addresses import find_by_address, normalize_address
from hub.contacts.claims import do_claim_email
from hub.contacts.opt_outs import do_set_opt_out
from hub.conversations import receipts
from hub.conversations.customer_fanout import CustomerFanout
from hub.conversations.customer_feed import CustomerFeed
from hub.conversations.models import Conversation
from hub.conversations.ratings import do_rate
from hub.errors import Conflict, HubError, Invalid
from hub.events.fanout import EventBus
from hub.hints import CustomerTyping, TypingHints
from hub.ports import (
    Attachment,
    ChannelAccount,
    ChannelAdapter,
    Cursor,
    FileToKeep,
    PermanentError,
    PublicEvent,
    QueueStatus,
    RawPayload,
    RejectedMessage,
)
from hub.routing.waiting import Queues, online_in_team, queue_status
from hub.runtime_writer import HubWriter

logger = logging.getLogger(__name__)
NO_FILES = "this hub keeps no files: no attachment store is configured"


class ChannelServices(HubWriter):
    adapters: dict[str, ChannelAdapter]
    bus: EventBus
    customer_fanout: CustomerFanout
    hints: TypingHints
    queues: Queues
    settling: Settling

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
        return CustomerFeed(self.db, self.customer_fanout, contact_id).events(after_event_id)

    async def customer_read_async(self, conversation_id: int, upto_message_id: int) -> None:
        await self.write_async(lambda s: receipts.do_customer_read(s, conversation_id, upto_message_id),
                               rerun_safe=True)

    async def agents_online_async(self, team: str | None) -> int:
        def read() -> int:
            with self.db.read() as s:
                return online_in_team(s, team)
        return await asyncio.to_thread(read)

    async def claim_email_async(self, scope: str, external_ref: str, email: str) -> None:
        def op(s: Session) -> None:
            contact = find_by_identity(s, ref_kind(scope), external_ref.strip())
            if contact is None or contact.id is None:
                raise RejectedMessage("this visitor has not written yet: send the address with a message")
            do_claim_email(s, contact.id, email)
        try:
            normalize_email(email)  # here: an op that raises fails a shared batch
        except Invalid as exc:
            raise RejectedMessage(exc.message) from None
        await self.write_async(op, rerun_safe=True)  # a second run finds the address kept

    async def queue_status_async(self, conversation_id: int) -> QueueStatus | None:
        def read() -> QueueStatus | None:
            with self.db.read() as s:
                return queue_status(s, conversation_id, self.queues)
        return await asyncio.to_thread(read)

    async def rate_conversation_async(self, contact_id: int, conversation_id: int, score: int,
                                      comment: str | None) -> None:
        try:
            await self.write_async(lambda s: do_rate(s, conversation_id, contact_id, score, comment))
        except HubError as exc:  # the customer's side hears why, in the port's one refusal
            raise RejectedMessage(str(exc)) from None

    async def store_attachment_async(self, content: bytes, content_type: str | None, filename: str | None, *,
                                     cid: str | None = None, accept: frozenset[str] | None = None) -> Attachment:
        return await self.store_file_async(content, content_type, filename, cid=cid, accept=accept)

    async def store_file_async(self, content: bytes | BinaryIO, content_type: str | None, filename: str | None, *,
                               cid: str | None = None, uploaded_by: int | None = None,
                               accept: frozenset[str] | None = None) -> Attachment:
        """`store_attachment_async`, also for a stream (an agent's upload, spooled to disk) and
        with the uploading agent, whose file it is until a reply of theirs carries it."""
        kept = await self.keep_file_async(content, content_type, filename, cid=cid, accept=accept)
        key, ctype, name = kept.kept, kept.content_type, kept.filename
        assert key is not None and ctype is not None and name is not None
        return await self.write_async(lambda s: attachment_actions.do_add(
            s, blob_key=key, content_type=ctype, filename=name, size=kept.size or 0, cid=kept.cid,
            uploaded_by=uploaded_by))

    async def keep_file_async(self, content: bytes | BinaryIO, content_type: str | None, filename: str | None, *,
                              cid: str | None = None, accept: frozenset[str] | None = None,
                              whole_message: bool = False) -> Attachment:
        if self.options.files is None:
            raise RejectedMessage(NO_FILES)
        kept = await asyncio.to_thread(self.options.files.keep, content, content_type, filename, accept,
                                       whole_message=whole_message)
        return _kept_as(kept, cid)

    async def keep_files_async(self, files: Sequence[FileToKeep], *,
                               settle: bool = True) -> list[Attachment | RejectedMessage]:
        store = self.options.files
        if store is None:
            return [RejectedMessage(NO_FILES) for _ in files]
        if not files:
            return []
        kept = await (asyncio.to_thread(store.keep_many, files) if settle else self.settling.keep(store, files))
        return [k if isinstance(k, RejectedMessage) else _kept_as(k, f.cid) for f, k in zip(files, kept, strict=True)]

    async def settle_files_async(self, files: Sequence[Attachment]) -> None:
        store, keys = self.options.files, [a.kept for a in files if a.kept]
        if store is not None and keys:
            await self.settling.settle(store, keys)

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


def _kept_as(kept: Kept, cid: str | None) -> Attachment:
    cid = (cid or "").strip().strip("<>") or None
    if cid is not None and (len(cid) > 255 or not cid.isprintable()):
        cid = None  # not one an HTML part could name anyway
    return Attachment(None, kept.content_type, kept.filename, kept.size, cid, kept=kept.blob_key)
