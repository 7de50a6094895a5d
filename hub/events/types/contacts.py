"""Changes to a customer: their details, preferences, and merges (on their timeline only)."""

from __future__ import annotations

from typing import Any

from hub.events.types.base import TypedEvent, column, event


@event("contact.updated", "agents")
class ContactUpdated(TypedEvent):
    """Name, tier, language or email changed: `changes` maps each field to [before, after]."""

    contact_id: int = column(payload=True)
    actor_agent_id: int | None = column(default=None)
    changes: dict[str, list[Any]]


@event("contact.opt_out_changed", "agents")
class OptOutChanged(TypedEvent):
    """The customer opted out of (or back into) messages on `channel`; `reason` in the channel's
    words (the SMS keyword they texted, an unsubscribe)."""

    contact_id: int = column(payload=True)
    channel: str
    opted_out: bool
    reason: str


@event("contact.match_suggested", "agents")
class MatchSuggested(TypedEvent):
    """Addresses that arrived with `candidate_id`'s, unverified, became contact `contact_id`: on
    both timelines (`timeline`: whose this row is), for an agent to merge or not."""

    timeline: int = column("contact_id")
    contact_id: int
    candidate_id: int
    identities: list[dict[str, str]]
    reason: str


@event("contact.match_dismissed", "agents")
class MatchDismissed(TypedEvent):
    """An agent said `contact_id` and `candidate_id` are not the same customer: the suggestion
    between them is no longer shown (on both timelines; a later suggestion shows it again)."""

    timeline: int = column("contact_id")
    actor_agent_id: int | None = column(default=None)
    contact_id: int
    candidate_id: int


@event("contact.merged", "agents")
class Merged(TypedEvent):
    """Contact `from_contact_id` was merged into `into_contact_id` (on both timelines)."""

    timeline: int = column("contact_id")
    actor_agent_id: int | None = column(default=None)
    from_contact_id: int
    into_contact_id: int
    identities: list[dict[str, str]]
    conversation_ids: list[int]
