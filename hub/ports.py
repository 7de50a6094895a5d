"""The hub's port: the only hub module channel adapters may import.

Inbound, an adapter turns a provider payload into an `InboundMessage` (or a `DeliveryUpdate`) and
hands it to the `HubPort` it was given. Outbound, the hub hands an adapter an `OutboundMessage`
and the adapter returns a `SendResult`, or raises `TransientError` / `PermanentError`; vendor
exceptions never cross this line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


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


# Content types a console may show inline as a picture. SVG is not one: it is a document that can
# carry scripts and remote references; it, and everything else, is a file to download.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"})


@dataclass(frozen=True)
class Attachment:
    url: str | None
    content_type: str | None = None
    filename: str | None = None
    size: int | None = None

    @property
    def kind(self) -> str:
        """"image" (a console may render it inline) or "file" (a link only)."""
        ctype = (self.content_type or "").partition(";")[0].strip().lower()
        return "image" if ctype in INLINE_IMAGE_TYPES else "file"

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Attachment:
        return cls(stored.get("url"), stored.get("content_type"), stored.get("filename"), stored.get("size"))

    def as_dict(self) -> dict[str, Any]:
        """As stored with the message: the fields given, and `kind`."""
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        out["kind"] = self.kind
        return out


@dataclass(frozen=True)
class InboundMessage:
    """A customer message, normalized.

    `ingest_scope` + `external_id` is the natural key (e.g. "twilio" + MessageSid,
    "api:crm" + the integrator's id); a redelivery with the same key is a no-op.
    `source` is the entry point (which API source, which of our numbers, which mailbox): replies
    leave from it, and routing rules can match on it.
    `thread_key`, when set, names the conversation this message continues (email threading).
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
    thread_conversation_id: int | None = None
    received_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    conversation_id: int
    contact_id: int
    created: bool  # False when this was a redelivery of a message already stored


@dataclass(frozen=True)
class OutboundMessage:
    outbox_id: int
    message_id: int | None
    conversation_id: int | None
    channel: str
    source: str  # the entry point the customer wrote to: we answer from it
    to: str  # the customer's address on this channel
    text: str
    html: str | None = None
    subject: str | None = None
    attachments: tuple[Attachment, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None
    status: str = "sent"  # the provider's first status, in the hub's words (queued, sent, ...)


@dataclass(frozen=True)
class DeliveryUpdate:
    """A provider's word on an outgoing message's fate (a status callback)."""

    channel: str
    provider_id: str
    status: str  # queued, sent, delivered, undelivered, failed, read
    error_code: str | None = None
    error_message: str | None = None


class RejectedMessage(ValueError):
    """Ingest refused this message for good: bad input (an invalid address, a value the database
    cannot store such as a NUL character). Sending it again will not help: answer 4xx."""


class TransientError(Exception):
    """The send may succeed later (network, 429, 5xx): the outbox retries with backoff."""


class PermanentError(Exception):
    """The send will never succeed as is (invalid number, 4xx): marked failed with this reason."""


class ChannelAdapter(Protocol):
    channel: str

    async def send(self, message: OutboundMessage) -> SendResult: ...


class HubPort(Protocol):
    """What the hub offers adapters. Calls are blocking (they run a database transaction), except
    the `*_async` ones, for adapters running on the event loop."""

    def ingest(self, message: InboundMessage) -> IngestResult: ...

    async def ingest_async(self, message: InboundMessage) -> IngestResult:
        """`ingest`, awaited without holding a thread: returns after the commit."""
        ...

    async def check_api_key_async(self, secret: str) -> bool: ...

    def apply_delivery_update(self, update: DeliveryUpdate) -> bool: ...

    def set_sms_opt_out(self, phone: str, opted_out: bool, *, keyword: str) -> None: ...

    def check_api_key(self, secret: str) -> bool: ...


class TrustedProxies:
    """The peers (IP addresses or networks, setting `trusted_proxies`) whose forwarded headers are
    believed: by the SMS webhooks for the signed URL, by agents_ui.clients for the client address."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)

    def __contains__(self, peer: object) -> bool:
        if not self.networks or not isinstance(peer, str):
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a name, not an address: nothing to trust
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
