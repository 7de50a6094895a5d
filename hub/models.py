"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from hub.agents.models import Agent, ApiKey, AuthToken, Team, TeamMember
from hub.contacts.models import Contact, ContactIdentity
from hub.conversations.models import Conversation, ConversationMention, ConversationRead, Message
from hub.delivery.models import DeliveryReceipt
from hub.events.models import Event
from hub.outbox.models import OutboxItem
from hub.routing.models import RoutingRule

__all__ = [
    "Agent",
    "ApiKey",
    "AuthToken",
    "Contact",
    "ContactIdentity",
    "Conversation",
    "ConversationMention",
    "ConversationRead",
    "DeliveryReceipt",
    "Event",
    "Message",
    "OutboxItem",
    "RoutingRule",
    "Team",
    "TeamMember",
]
