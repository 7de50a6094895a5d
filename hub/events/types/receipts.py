"""Read receipts: who has seen the other side's messages of a conversation.

Both are public: the customer's feed turns an agent's read into "Seen" under their message
(hub.conversations.customer_feed); the console marks the replies the customer saw. Neither carries
a contact id, so a customer's timeline is not filled with them.
"""

from __future__ import annotations

from hub.events.types.base import TypedEvent, column, event


@event("receipt.agent_read", "public")
class AgentRead(TypedEvent):
    """An agent read the customer's messages up to `upto_message_id`, the first agent to do so."""

    conversation_id: int = column()
    actor_agent_id: int | None = column(default=None)
    upto_message_id: int


@event("receipt.customer_read", "public")
class CustomerRead(TypedEvent):
    """The customer saw the agents' replies up to `upto_message_id` (their channel reported it)."""

    conversation_id: int = column()
    upto_message_id: int
