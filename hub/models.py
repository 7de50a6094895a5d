"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from hub.agents.models import Agent, ApiKey, AuthToken, Team, TeamMember
from hub.attachments.models import StoredAttachment
from hub.channel_accounts.models import StoredAccount
from hub.channel_cursors import ChannelCursor
from hub.contacts.models import Contact, ContactIdentity, ContactOptOut
from hub.conversations.models import Conversation, ConversationMention, ConversationRead, Message, ThreadKey
from hub.delivery.models import DeliveryReceipt
from hub.events.models import Event
from hub.outbox.models import OutboxItem
from hub.raw_payloads import KeptPayload
from hub.routing.models import RoutingRule

__all__ = [
    "Agent",
    "ApiKey",
    "AuthToken",
    "ChannelCursor",
    "Contact",
    "ContactIdentity",
    "ContactOptOut",
    "Conversation",
    "ConversationMention",
    "ConversationRead",
    "DeliveryReceipt",
    "Event",
    "KeptPayload",
    "Message",
    "OutboxItem",
    "RoutingRule",
    "StoredAccount",
    "StoredAttachment",
    "Team",
    "TeamMember",
    "ThreadKey",
]
