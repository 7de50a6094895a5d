"""What the hub hands channels outbound (`Outbound`: a text, `OutboundMessage`, or a call request,
`OutboundCall`), what a send returns (`SendResult`), and the customer's view of their
conversations (`PublicEvent`, `QueueStatus`, for public sockets); the entry points agents write from
(`EntryPoint`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.ports_parts.attachments import Attachment


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
    # An earlier attempt started and its outcome was never recorded (the process died mid-send),
    # or it ended in `OutcomeUnknown` (a timeout once handed over): the provider may have it
    # already. An adapter that can look (email: the mailbox's Sent folder, for the `send_key`)
    # checks before sending again.
    outcome_unknown: bool = False


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
    # The customer cannot be reached on this channel now (a web chat visitor who left the page):
    # the hub sends the item again through this channel (e.g. "email") when the customer has an
    # address of its kind and has not opted out there; this send is recorded as `status`.
    hand_over: str | None = None


@dataclass(frozen=True)
class PublicEvent:
    """An event a customer may see, as a public socket sends it.

    Types: "message.created" (`data`: the message: id, direction "in" or "out", text, html,
    subject, attachments, created_at, and `agent_name` on an agent's reply), "conversation.assigned"
    (`data`: {"agent_name": the agent's display name, or None when handed back to the queue}),
    "conversation.resolved", "conversation.reopened" (`data`: {}), "receipt.agent_read" (`data`:
    {"upto_message_id"}: an agent has read the customer's messages up to that one),
    "conversation.rated" (`data`: {"score": 1 to 5, "comment": text or None}: the customer's own
    rating). Never notes, mentions, routing internals, other customers' events, or agents' ids.
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
