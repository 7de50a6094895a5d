"""Every event type the hub appends, each defined once (hub.events.types.base says how).

`CATALOGUE` maps each type's name to its class; the API serves it as JSON
(`hub.events.catalogue.catalogue_json`), so the console, analytics and webhooks read one schema.
"""

from hub.events.types.agents import (
    AgentUpdated,
    MemberAdded,
    MemberRemoved,
    PresenceChanged,
    RulesChanged,
    SessionEnded,
    TeamUpdated,
)
from hub.events.types.base import CATALOGUE, Audience, TypedEvent
from hub.events.types.contacts import ContactUpdated, MatchDismissed, MatchSuggested, Merged, OptOutChanged
from hub.events.types.conversations import (
    Assigned,
    CallRequested,
    ConversationCreated,
    Escalated,
    Offered,
    OfferWithdrawn,
    Queued,
    Rated,
    Requeued,
    SlaAtRisk,
    SlaBreached,
    StatusChanged,
    Transferred,
)
from hub.events.types.messages import (
    DeliveryRetried,
    DeliveryRetryScheduled,
    DeliveryStatusChanged,
    MessageCreated,
    NoteCreated,
)
from hub.events.types.receipts import AgentRead, CustomerRead

__all__ = [
    "CATALOGUE", "AgentRead", "AgentUpdated", "Assigned", "Audience", "CallRequested", "ContactUpdated",
    "ConversationCreated", "CustomerRead",
    "DeliveryRetried", "DeliveryRetryScheduled", "DeliveryStatusChanged", "Escalated", "MatchDismissed",
    "MatchSuggested",
    "MemberAdded", "MemberRemoved", "Merged", "MessageCreated", "NoteCreated", "OfferWithdrawn", "Offered",
    "OptOutChanged", "PresenceChanged", "Queued", "Rated", "Requeued", "RulesChanged", "SessionEnded", "SlaAtRisk",
    "SlaBreached", "StatusChanged", "TeamUpdated", "Transferred", "TypedEvent",
]
