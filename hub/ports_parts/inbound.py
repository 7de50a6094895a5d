"""What channels hand the hub inbound: a customer message (`InboundMessage`, who wrote it,
`ContactRef`, the `Cursor` stored with it), the answer (`IngestResult`), a provider's status
callback (`DeliveryUpdate`), and an item kept as received (`RawPayload`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.ports_parts.attachments import Attachment


@dataclass(frozen=True)
class ContactRef:
    """Who wrote: at least one of email, phone (E.164) or external reference.

    `verified` names the fields ("email", "phone", "external_ref") whose address the channel
    proves the sender controls: an SMS's sender number (the carrier delivered it from there), an
    email's From once checked, a signed widget identity. Only a verified address joins a known
    customer it arrived with, and only when that customer was itself recognised by a verified
    address; any other new address becomes a contact of its own, suggested to agents as a match
    (hub.contacts.actions). Leave it empty when the sender merely claims the addresses.
    """

    email: str | None = None
    phone: str | None = None
    external_ref: str | None = None
    name: str | None = None
    verified: frozenset[str] = frozenset()
    # A new contact's tier and language (routing rules match them); never changes a known contact's.
    tier: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Cursor:
    """How far a channel has read a source (an IMAP mailbox's "UIDVALIDITY:UID"), by a name the
    channel chooses (unique across channels: prefix it with the channel)."""

    name: str
    value: str


@dataclass(frozen=True)
class InboundMessage:
    """A customer message, normalized.

    `ingest_scope` + `external_id` is the natural key (e.g. "twilio" + MessageSid,
    "api:crm" + the integrator's id); a redelivery with the same key is a no-op.
    `source` is the entry point (which API source, which of our numbers, which mailbox): replies
    leave from it, and routing rules can match on it.

    Threading (keys are per channel, at most THREAD_KEY_MAX characters; longer ones are ignored):
    `thread_keys`, best first (email: the reply token, In-Reply-To, each References id): the first
    one the hub knows names the conversation this message continues, whoever sent it.
    `weak_thread_keys` (email: a subject token) are tried next, and count only when that
    conversation's customer is the sender. `own_thread_keys` (its own Message-ID) are recorded for
    the conversation it lands in. A resolved conversation is reopened within the hub's reopen
    window, as for any message; after it, the message starts a new conversation. Without a known
    key the message joins the sender's latest conversation on this channel and entry point.

    `cursor` is stored in the same transaction as the message (a redelivery stores it too).
    `raw` (the provider's bytes, e.g. the whole email) is kept for admins if ingest rejects the
    message (`RejectedMessage`); `raw_content_type` is its type ("message/rfc822", or
    "application/octet-stream", the default).

    `needs_answer` False (an automatic reply, list mail, a delivery report: the channel knows) is
    stored and shown like any message, but is never work: it reopens nothing, is never routed or
    assigned, and when it threads nowhere its new conversation starts resolved.
    `metadata` is stored with the message (the console reads a channel's own words there).
    """

    channel: str
    source: str
    ingest_scope: str
    external_id: str
    contact: ContactRef
    text: str = ""
    html: str | None = None
    subject: str | None = None
    attachments: tuple[Attachment, ...] = ()
    thread_keys: tuple[str, ...] = ()
    weak_thread_keys: tuple[str, ...] = ()
    own_thread_keys: tuple[str, ...] = ()
    cursor: Cursor | None = None
    received_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = field(default=None, repr=False)
    raw_content_type: str = "application/octet-stream"
    needs_answer: bool = True

    @property
    def threaded(self) -> bool:
        """Whether ingest has keys to resolve or record (hub.ingest.keys)."""
        return bool(self.thread_keys or self.weak_thread_keys or self.own_thread_keys)


# The longest thread key the hub stores (a Message-ID is rarely over 250 characters).
THREAD_KEY_MAX = 500


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    conversation_id: int
    contact_id: int
    created: bool  # False when this was a redelivery of a message already stored


@dataclass(frozen=True)
class DeliveryUpdate:
    """A provider's word on an outgoing message's fate (a status callback)."""

    channel: str
    provider_id: str
    status: str  # queued, sent, delivered, undelivered, failed, read
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class RawPayload:
    """An inbound item kept as received because it could not be parsed or ingested: admins list
    and download it (GET /api/v1/admin/raw-payloads). Payloads over the hub's size cap are kept
    truncated (and marked so). `content_type`: "message/rfc822" or "application/octet-stream"."""

    channel: str
    source: str
    reason: str
    payload: bytes = field(repr=False)
    content_type: str = "application/octet-stream"
    external_id: str | None = None
