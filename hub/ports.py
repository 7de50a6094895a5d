"""The hub's port: the only hub module channel adapters may import.

An adapter (`ChannelAdapter`) is built from settings by the registry (config/channels.py), which
mounts its `routes()`, then calls `start(port, tasks)` once the hub runs and `stop()` before it
stops. Inbound, it turns a provider payload into an `InboundMessage` (or a `DeliveryUpdate`) and
hands it to the `HubPort` it was given at start; long-running inbound work (a poller, a socket) runs
as tasks given to the `TaskRunner`, which restarts them when they fail. Outbound, the hub hands it
an `Outbound` item (a text, `OutboundMessage`, or a call request, `OutboundCall`) and it returns a
`SendResult`, or raises `TransientError` / `PermanentError`; vendor exceptions never cross this
line. Adapters never see conversation ids as something to act on: they thread by keys
(`InboundMessage.thread_keys`), resume by cursors (`Cursor`) and follow one customer through
`HubPort.customer_feed`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit


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
    """A file a message carries. One the hub stores (`HubPort.store_attachment_async`) has an `id`
    and its `url` is the hub's own download route (agents only); others link elsewhere (http(s)).
    `cid`: an email part's Content-ID (no brackets), which `cid:` URLs in the HTML name."""

    url: str | None
    content_type: str | None = None
    filename: str | None = None
    size: int | None = None
    cid: str | None = None
    id: int | None = None

    @property
    def kind(self) -> str:
        """"image" (a console may render it inline) or "file" (a link only)."""
        ctype = (self.content_type or "").partition(";")[0].strip().lower()
        return "image" if ctype in INLINE_IMAGE_TYPES else "file"

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Attachment:
        return cls(stored.get("url"), stored.get("content_type"), stored.get("filename"), stored.get("size"),
                   stored.get("cid"), stored.get("id"))

    def as_dict(self) -> dict[str, Any]:
        """As stored with the message: the fields given, and `kind`."""
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        out["kind"] = self.kind
        return out


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
        """Whether ingest has keys to resolve or record (such messages take the ORM path)."""
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
    # The conversation's known thread keys, oldest first (email: In-Reply-To and References).
    thread_keys: tuple[str, ...] = ()
    # The id this item is sent under on every attempt (email: its Message-ID), minted by the
    # adapter's `send_key` before the first attempt and kept with the outbox row; None when the
    # adapter mints none.
    send_key: str | None = None


@dataclass(frozen=True)
class EntryPoint:
    """Where agents may write from on a channel (email: a mailbox): `address` is what
    `Outbound.source` names, `name` what people see (a display name; may be empty)."""

    address: str
    name: str = ""


@dataclass(frozen=True)
class OutboundCall:
    """A request to call the customer back (voice): the adapter places the call."""

    outbox_id: int
    conversation_id: int | None
    channel: str
    source: str  # the entry point (our number) to call from
    to: str  # the customer's address on this channel
    metadata: dict[str, Any] = field(default_factory=dict)


Outbound = OutboundMessage | OutboundCall


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None
    status: str = "sent"  # the provider's first status, in the hub's words (queued, sent, ...)
    # Keys the adapter minted for this item (the Message-ID it set, the reply token it used): the
    # hub records them for the conversation, so answers carrying them thread there.
    thread_keys: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class PublicEvent:
    """An event a customer may see, as a public socket sends it.

    Types: "message.created" (`data`: the message: id, direction "in" or "out", text, html,
    subject, attachments, created_at, and `agent_name` on an agent's reply), "conversation.assigned"
    (`data`: {"agent_name": the agent's display name, or None when handed back to the queue}),
    "conversation.resolved", "conversation.reopened" (`data`: {}). Never notes, mentions, routing
    internals, other customers' events, or agents' ids.
    """

    id: int  # the event log's id: resume with it (`customer_feed(contact_id, after_event_id=id)`)
    type: str
    conversation_id: int
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueStatus:
    """Where a customer's conversation waits for an agent (`HubPort.queue_status_async`).

    `position`: 1 is next, counted in the order the router takes its team's queue (a conversation
    being offered to an agent is first). `wait_seconds`: an estimate from how long the team's
    customers waited in the last hour, scaled by the customers ahead per online agent; None when
    there is nothing honest to say (no assignment in the last hour, or no agent of the team online).
    """

    conversation_id: int
    position: int
    wait_seconds: float | None
    agents_online: int


@dataclass(frozen=True)
class DeliveryUpdate:
    """A provider's word on an outgoing message's fate (a status callback)."""

    channel: str
    provider_id: str
    status: str  # queued, sent, delivered, undelivered, failed, read
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ChannelAccount:
    """An account of a channel that admins keep in the hub from the console (an email mailbox):
    `name` is unique within the channel (a mailbox's address); `settings` as the channel's admin
    form stored them; `secrets` (passwords), decrypted for the adapter: encrypted at rest, never
    logged (hidden from repr), never returned by the API."""

    id: int
    channel: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class AccountCheck:
    """One finding of `ChannelAdapter.check_account` ("test connection"), in an admin's words."""

    ok: bool
    key: str  # what was found, as a stable key ("check.login_refused")
    text: str  # the words for the admin, in the language asked for
    detail: str = ""  # the server's own words


class RejectedMessage(ValueError):
    """Ingest refused this message for good: bad input (an invalid address, a value the database
    cannot store such as a NUL character). Sending it again will not help: answer 4xx."""


class AttachmentTooLarge(RejectedMessage):
    """`HubPort.store_attachment_async` refused a file over the hub's limit (`max_bytes`)."""

    def __init__(self, message: str, max_bytes: int) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes


class AttachmentRefused(RejectedMessage):
    """`HubPort.store_attachment_async` refused a file whose type, read from its bytes
    (`content_type`), is not one the caller accepts: nothing was kept."""

    def __init__(self, message: str, content_type: str) -> None:
        super().__init__(message)
        self.content_type = content_type


class TransientError(Exception):
    """The send may succeed later (network, 429, 5xx): the outbox retries with backoff."""


class PermanentError(Exception):
    """The send will never succeed as is (invalid number, 4xx): marked failed with this reason."""


class TaskRunner(Protocol):
    """Runs an adapter's inbound work (given to `ChannelAdapter.start`; hub.channel_tasks)."""

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` until the channel stops. When it raises (or returns), it is started again
        after a backoff (1 s, doubling up to 60 s; back to 1 s once it ran a minute), and its state
        (running, restarting, stopped; restarts; last error) is shown to admins. `name` is unique
        within the channel."""
        ...


class ChannelAdapter(Protocol):
    """A channel, as the registry (config/channels.py) sets it up and the delivery worker uses it."""

    channel: str  # "sms", "email", "webchat", "voice", "api", ...
    @property
    def address_kind(self) -> str | None:
        """The contact identity kind this channel addresses customers by ("phone", "email"), or
        None when the adapter finds its recipients itself (from the item's source or metadata).
        The hub fills `Outbound.to` from it, and finds the contact of `HubPort.set_opt_out_async`
        by it. (Read only: a plain class attribute satisfies it.)"""
        ...

    def routes(self) -> Sequence[Any]:
        """The ASGI routes the app mounts (`APIRouter(...).routes`); [] if none. Called before
        `start`: a request arriving before it (or after `stop`) must be answered, not crash."""
        ...

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        """Begin inbound work: keep `port`, spawn long-running work through `tasks`. Called once,
        after the hub started."""
        ...

    async def stop(self) -> None:
        """Stop inbound work and close clients. Called after the runner cancelled the tasks it
        spawned; idempotent (a second call, or one without `start`, does nothing)."""
        ...

    async def send(self, item: Outbound) -> SendResult:
        """May be called before `start` and after `stop` (the delivery worker runs from the hub's
        start to its stop): answer, or raise `TransientError` to be tried again later."""
        ...

    async def accounts_changed(self) -> None:
        """Admins changed this channel's stored accounts (`HubPort.channel_accounts_async`): take
        them up (restart what changed). Called in the process that wrote them, after the commit."""
        ...

    async def check_account(self, account: ChannelAccount, lang: str) -> list[AccountCheck]:
        """Try an account's servers without sending or reading anything ("test connection")."""
        ...


class BaseAdapter:
    """No routes, no inbound work: a channel overrides what it has (and `send`). `port` is the
    `HubPort` once started, None before."""

    channel: str
    address_kind: str | None = None
    port: HubPort | None = None

    def routes(self) -> Sequence[Any]:
        return []

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        self.port = port

    async def stop(self) -> None:
        return None

    async def send(self, item: Outbound) -> SendResult:
        raise PermanentError(f"the {self.channel} channel sends nothing")

    def sources(self) -> tuple[EntryPoint, ...]:
        """The entry points an agent may start a conversation from, the default first; () when
        the channel lists none (any `source` then goes to `send` as given). Optional."""
        return ()

    def send_key(self, item: OutboundMessage) -> str | None:
        """The id `item` will be sent under on every attempt (email: its Message-ID), or None.
        Optional (the delivery worker asks only adapters that have it). Called once, in the
        transaction that first claims the item, which stores it with the outbox row: it must be
        quick and must not fail (None when it cannot tell). The worker then passes it as
        `OutboundMessage.send_key`, and never sends again an item whose key it saw accepted."""
        return None

    async def accounts_changed(self) -> None:
        return None

    async def check_account(self, account: ChannelAccount, lang: str) -> list[AccountCheck]:
        return []


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

    async def queue_status_async(self, conversation_id: int) -> QueueStatus | None:
        """Where this conversation (one the channel saw in its customer's `customer_feed`) waits for
        an agent, or None when it is not waiting (an agent has it, or it is not open). Cheap enough
        to ask every few seconds per waiting customer, not on every frame."""
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

    async def open_attachment_async(self, attachment: Attachment) -> bytes:
        """The bytes of a file the hub stored (an agent's upload on an `OutboundMessage`). Raises
        PermanentError when the hub has no such file."""
        ...

    async def channel_accounts_async(self, channel: str) -> tuple[ChannelAccount, ...]:
        """The accounts admins stored for `channel` (secrets decrypted), by name."""
        ...


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


# A forwarded entry that is not an address is kept as a throttle key, cut to this length.
_MAX_NAME = 64


def _address(value: str) -> str | None:
    """The IP address in a peer or X-Forwarded-For entry ("1.2.3.4", "1.2.3.4:5", "[::1]:5"),
    normalized; None when it is not one."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1:value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


class ClientAddresses:
    """Who is on the other end of a request: the connecting peer, or, when that peer is one of the
    `trusted_proxies`, the client its X-Forwarded-For names (the console's throttles, the web
    chat's rate limits). Decided here rather than by uvicorn's proxy headers (which `hub serve`
    turns off): the Twilio webhooks must see the real peer to decide whether to believe
    X-Forwarded-Proto/Host, and the same answer comes whatever server runs the app."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self.trusted = TrustedProxies(trusted_proxies)

    def of(self, scope: Mapping[str, Any]) -> str:
        """The client's address: behind trusted proxies, the nearest X-Forwarded-For entry that is
        not itself a trusted proxy (each proxy appends the peer it saw, so only the entries our own
        proxies added are believed, not what the client wrote there)."""
        peer = scope.get("client")
        host = str(peer[0]) if peer else "?"
        if not self.trusted.networks or _address(host) not in self.trusted:
            return host
        hops = [hop for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"
                for hop in value.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _address(hop)
            if address not in self.trusted:
                return address or hop.strip()[:_MAX_NAME]
        return (_address(hops[0]) or host) if hops else host  # every hop is ours


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` as a browser writes it in `Origin` (lower case, default port left
    out), or None when `url` has no scheme and host (e.g. the `null` origin of a sandboxed page).
    The console's cross-site check and the web chat's allowed origins compare these."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS.get(scheme) else "")
