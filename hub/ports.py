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

The names live in hub.ports_parts, one module for each kind of thing; they are re-exported here,
and only from here do channels import them.
"""

from hub.ports_parts.accounts import AccountCheck, ChannelAccount
from hub.ports_parts.adapters import BaseAdapter, ChannelAdapter, Embed, TaskRunner
from hub.ports_parts.attachments import INLINE_IMAGE_TYPES, Attachment, FileToKeep
from hub.ports_parts.business_hours import BusinessHours
from hub.ports_parts.client_addresses import ClientAddresses, TrustedProxies, origin_of
from hub.ports_parts.errors import (
    AttachmentRefused,
    AttachmentTooLarge,
    OutcomeUnknown,
    PermanentError,
    RejectedMessage,
    SendError,
    TransientError,
)
from hub.ports_parts.hub_port import HubPort
from hub.ports_parts.inbound import (
    THREAD_KEY_MAX,
    ContactRef,
    Cursor,
    DeliveryUpdate,
    InboundMessage,
    IngestResult,
    RawPayload,
)
from hub.ports_parts.outbound import (
    EntryPoint,
    Outbound,
    OutboundCall,
    OutboundMessage,
    PublicEvent,
    QueueStatus,
    SendResult,
)
from hub.ports_parts.storable_text import NUL_REFUSED, has_nul

__all__ = [
    "INLINE_IMAGE_TYPES",
    "NUL_REFUSED",
    "THREAD_KEY_MAX",
    "AccountCheck",
    "Attachment",
    "AttachmentRefused",
    "AttachmentTooLarge",
    "BaseAdapter",
    "BusinessHours",
    "ChannelAccount",
    "ChannelAdapter",
    "ClientAddresses",
    "ContactRef",
    "Cursor",
    "DeliveryUpdate",
    "Embed",
    "EntryPoint",
    "FileToKeep",
    "HubPort",
    "InboundMessage",
    "IngestResult",
    "Outbound",
    "OutboundCall",
    "OutboundMessage",
    "OutcomeUnknown",
    "PermanentError",
    "PublicEvent",
    "QueueStatus",
    "RawPayload",
    "RejectedMessage",
    "SendError",
    "SendResult",
    "TaskRunner",
    "TransientError",
    "TrustedProxies",
    "has_nul",
    "origin_of",
]
