"""`HubPort`: what the hub offers channel adapters (hub.runtime.Hub implements it; tests/fakes/port.py
is a fake of it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from hub.ports_parts.accounts import ChannelAccount
from hub.ports_parts.attachments import Attachment, FileToKeep
from hub.ports_parts.errors import RejectedMessage
from hub.ports_parts.inbound import Cursor, DeliveryUpdate, InboundMessage, IngestResult, RawPayload
from hub.ports_parts.outbound import PublicEvent, QueueStatus


class HubPort(Protocol):
    """What the hub offers adapters. Calls are blocking (they run a database transaction), except
    the `*_async` ones, for adapters running on the event loop."""

    def ingest(self, message: InboundMessage) -> IngestResult: ...

    async def ingest_async(self, message: InboundMessage) -> IngestResult:
        """`ingest`, awaited without holding a thread: returns after the commit."""
        ...

    async def check_api_key_async(self, secret: str) -> bool: ...

    def apply_delivery_update(self, update: DeliveryUpdate) -> bool: ...

    async def set_opt_out_async(self, channel: str, address: str, opted_out: bool, reason: str) -> None:
        """The customer at `address` (of the channel's `address_kind`) opted out of (or back in to)
        messages on `channel`: replies there are refused until they opt in. No-op for an unknown
        address or an unchanged state."""
        ...

    def check_api_key(self, secret: str) -> bool: ...

    async def cursor_async(self, name: str) -> str | None:
        """The value stored for cursor `name` (with a message, or by `set_cursor_async`), or None."""
        ...

    async def set_cursor_async(self, cursor: Cursor) -> None:
        """Store a cursor on its own: for a fetch that covered nothing to ingest."""
        ...

    async def keep_raw_async(self, raw: RawPayload) -> None:
        """Keep an item that failed to parse, for admins. Never raises: a failure is logged."""
        ...

    async def customer_typing_async(self, conversation_id: int) -> None:
        """The customer of this conversation (one the channel saw in their `customer_feed`) is
        typing: the agents who may read it are told. Ephemeral (hub.hints): no event, no replay."""
        ...

    def on_agent_typing(self, listener: Callable[[int, str], None]) -> Callable[[], None]:
        """`listener(conversation_id, agent_name)` runs (on the event loop: it must not block) when
        an agent types a reply there; call what this returns to stop listening."""
        ...

    async def find_contact_async(self, scope: str, external_ref: str) -> int | None:
        """The contact that the external reference `external_ref`, given with `ingest_scope` `scope`
        (`ContactRef.external_ref`), belongs to now (merges followed), or None if it never wrote:
        for a public socket that follows one customer (`customer_feed`)."""
        ...

    def customer_feed(self, contact_id: int, after_event_id: int) -> AsyncIterator[PublicEvent]:
        """The events of this customer's conversations a customer may see (`PublicEvent`), from
        after `after_event_id` on, then live, in log order, each once. Ends only when the consumer
        stops iterating (or the hub stops)."""
        ...

    async def customer_read_async(self, conversation_id: int, upto_message_id: int) -> None:
        """The customer saw the agents' replies of this conversation (one the channel saw in their
        `customer_feed`) up to `upto_message_id`: agents see the replies marked as seen. Recorded
        only when it covers a reply not reported before; an id of another conversation is ignored."""
        ...

    async def agents_online_async(self, team: str | None) -> int:
        """How many agents are online in the team named `team` (its name or id; None: anywhere). A
        team that does not exist has none."""
        ...

    async def claim_email_async(self, scope: str, external_ref: str, email: str) -> None:
        """The customer known by `external_ref` (given with `ingest_scope` `scope`) typed in an email
        address: kept as their claim, replacing an earlier one (a reply in their own conversation
        may then be handed over there), never as an address any message is filed under; if another
        customer has it, agents are shown them as a likely match. Never merges. Raises
        RejectedMessage when it is not an email address, or when the reference never wrote."""
        ...

    async def queue_status_async(self, conversation_id: int) -> QueueStatus | None:
        """Where this conversation (one the channel saw in its customer's `customer_feed`) waits for
        an agent, or None when it is not waiting (an agent has it, or it is not open). Cheap enough
        to ask every few seconds per waiting customer, not on every frame."""
        ...

    async def rate_conversation_async(self, contact_id: int, conversation_id: int, score: int,
                                      comment: str | None) -> None:
        """The customer `contact_id` rates their resolved conversation (one the channel saw in their
        `customer_feed`): `score` 1 to 5, an optional comment (at most 1000 characters). Appended
        as a `conversation.rated` event, which their feed then shows. Raises RejectedMessage when
        it is not theirs, not resolved, rated already for this resolution, or the score is not one."""
        ...

    async def store_attachment_async(self, content: bytes, content_type: str | None, filename: str | None, *,
                                     cid: str | None = None, accept: frozenset[str] | None = None) -> Attachment:
        """Keep a file for a message the adapter is about to ingest, and return the `Attachment` to
        put on its `InboundMessage` (with its id and the hub's URL). The type is read from the
        content (a declared one that does not fit is corrected); a missing filename gets one.
        Raises AttachmentTooLarge over the hub's limit (setting `attachment_max_bytes`), and,
        when `accept` names the types the channel takes, AttachmentRefused for any other (both
        before anything is kept)."""
        ...

    async def keep_file_async(self, content: bytes, content_type: str | None, filename: str | None, *,
                              cid: str | None = None, accept: frozenset[str] | None = None,
                              whole_message: bool = False) -> Attachment:
        """Keep a file's bytes for a message the adapter is about to ingest, as
        `store_attachment_async` does (same checks, same errors), but write no row: the
        `Attachment` (with `kept`, no id yet) goes on the `InboundMessage`, whose ingest writes its
        row in the message's own transaction (none for a redelivery or a refused message). No write
        of its own per file: cheaper, and no file row that no message names. `whole_message`: the
        bytes are a whole message as the channel received it (an email's original), kept as
        `message/rfc822` without reading their type (never served inline, like any type but
        pictures'), whatever `content_type` says."""
        ...

    async def keep_files_async(self, files: Sequence[FileToKeep], *,
                               settle: bool = True) -> list[Attachment | RejectedMessage]:
        """`keep_file_async` for each of a message's files, in one go (one thread hand-off, one
        fsync per folder): for each, in order, its `Attachment`, or the `RejectedMessage` (over the
        limit, refused type, a hub that keeps no files) that `keep_file_async` would have raised.
        Any other error raises, for all of them. With `settle=False` the files are whole on
        return but durable only once `settle_files_async` returned for them: the adapter runs that
        beside the message's ingest (their folders' fsyncs no longer wait in front of it) and
        acknowledges the message only after both."""
        ...

    async def settle_files_async(self, files: Sequence[Attachment]) -> None:
        """Make the files `keep_files_async(settle=False)` kept durable (their `Attachment`s;
        others are ignored). Raises when it cannot: do not acknowledge the message then."""
        ...

    async def open_attachment_async(self, attachment: Attachment) -> bytes:
        """The bytes of a file the hub stored (an agent's upload on an `OutboundMessage`). Raises
        PermanentError when the hub has no such file."""
        ...

    async def channel_accounts_async(self, channel: str) -> tuple[ChannelAccount, ...]:
        """The accounts admins stored for `channel` (secrets decrypted), by name."""
        ...
