"""A conversation's life: created, its status, and where routing or people put it.

`conversation` in a payload is the conversation as the API answers it (`conversation_dict`) after
the change: consoles merge it into the row or header they show.
"""

from __future__ import annotations

from typing import Any

from hub.events.types.base import TypedEvent, column, event, shared


@shared
class _OfConversation(TypedEvent):
    conversation_id: int = column()
    contact_id: int = column()


@event("conversation.created", "public")
class ConversationCreated(_OfConversation):
    """A customer's first message on a channel and entry point opened a conversation."""

    conversation: dict[str, Any]


@event("conversation.status_changed", "public")
class StatusChanged(_OfConversation):
    """Open, pending, snoozed or resolved; `reason` "customer_message" when a message reopened it."""

    actor_agent_id: int | None = column(default=None)
    from_: str
    to: str
    reason: str | None = None
    conversation: dict[str, Any]


# Public: the customer's own words about their conversation. Their feed shows it back to them (so a
# widget opened again knows this resolution was rated); agents see it on the timeline.
@event("conversation.rated", "public")
class Rated(_OfConversation):
    """The customer rated the conversation once it was resolved: `score` 1 (bad) to 5 (great), an
    optional `comment`. One rating per resolution (hub.conversations.ratings)."""

    score: int
    comment: str | None = None


@event("conversation.queued", "agents")
class Queued(_OfConversation):
    """A routing rule matched: the conversation waits in `team_id`'s queue at `priority`."""

    rule: str
    team_id: int | None
    priority: int
    skill: str | None
    conversation: dict[str, Any]


@event("conversation.offered", "agents")
class Offered(_OfConversation):
    """Offered to `agent_id` until `expires_at` (ISO 8601); accepting assigns it."""

    agent_id: int
    expires_at: str
    conversation: dict[str, Any]


@event("conversation.offer_withdrawn", "agents")
class OfferWithdrawn(_OfConversation):
    """The offer ended: declined, timed out, or the agent left (`reason`)."""

    agent_id: int | None
    reason: str
    from_assignee_id: int | None
    conversation: dict[str, Any]


@shared
class _Assignment(_OfConversation):
    """Who owns it and in which queue, and where it came from (`from_*`: so the previous owner's
    console drops it, hub.events.visibility)."""

    actor_agent_id: int | None = column(default=None)
    assignee_id: int | None
    team_id: int | None
    from_assignee_id: int | None
    from_team_id: int | None
    reason: str
    note: str | None
    conversation: dict[str, Any]
    # When an agent is given it: since when it had been waiting (ISO 8601), so queue waits can be
    # measured from the log (hub.routing.waiting). Left out when nobody was waiting for one.
    waited_from: str | None = None


# Public: the customer's feed (hub.conversations.customer_feed) tells them who took the conversation,
# the agent's display name and nothing else of the payload.
@event("conversation.assigned", "public")
class Assigned(_Assignment):
    """Given to an agent (or unassigned, `assignee_id` null) within its team."""


@event("conversation.transferred", "public")
class Transferred(_Assignment):
    """Moved to another team by a supervisor."""


@event("conversation.requeued", "agents")
class Requeued(_Assignment):
    """Back in its queue: handed back, or its agent became unavailable."""


@event("conversation.escalated", "agents")
class Escalated(_Assignment):
    """Waited too long: moved on by the team's escalation settings."""


@shared
class _Sla(_OfConversation):
    due_at: str
    priority: int
    conversation: dict[str, Any]


@event("sla.at_risk", "agents")
class SlaAtRisk(_Sla):
    """The nearest deadline (`due_at`) is within the team's warning time; priority raised."""


@event("sla.breached", "agents")
class SlaBreached(_Sla):
    """The nearest deadline (`due_at`) passed."""


# The four kinds of `do_assign`, by name (its callers say which the change is).
ASSIGNMENTS: dict[str, type[_Assignment]] = {c.TYPE: c for c in (Assigned, Transferred, Requeued, Escalated)}


@event("call.requested", "agents")
class CallRequested(_OfConversation):
    """An agent asked the conversation's channel to call the customer back (outbox item `outbox_id`)."""

    actor_agent_id: int | None = column(default=None)
    outbox_id: int
    channel: str
