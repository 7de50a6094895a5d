"""What ingest needs of routing, and when a customer's message needs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlmodel import Session

from hub.conversations.models import Conversation

if TYPE_CHECKING:
    from hub.routing.board import BoardPrefetch
    from hub.routing.decision import Decision


class IngestRouting(Protocol):
    """hub.routing.actions.Router is one; tests give fakes."""

    def on_routable(self, session: Session, conv: Conversation) -> None:
        """Route a conversation that is written (reopened, or never queued), writing what was decided."""

    def decide(self, session: Session, conv: Conversation, *, first_text: str) -> Decision:
        """Route a new conversation not written yet (`first_text`: its first message's, not written
        either); the caller writes the decision with the conversation's rows."""

    def board_prefetch(self, session: Session) -> BoardPrefetch | None:
        """The routing board's refresh for the lookup to read with its own statement (PostgreSQL),
        or None when there is nothing to read that way."""

    def restarts_clock(self, session: Session, team_id: int | None, priority: int) -> bool:
        """Whether a customer's message after an agent's reply restarts the next-response clock of
        a conversation of this team and priority: whether the team's SLA has that target."""


def needs_routing(route: IngestRouting, session: Session, *, new: bool, reopened: bool, assignee_id: int | None,
                  queued: bool, first_response_at: object | None, next_response_due_at: object | None,
                  team_id: int | None, priority: int) -> bool:
    """Whether a customer message must run routing.

    A new or reopened conversation is routed; so is an open one without an agent that was never
    queued. One already waiting in a queue is not: the queue drains by itself whenever capacity
    frees (hub.routing.service), so routing it again per message changes nothing. A message after
    an agent's reply is routed to restart the next-response clock, only when its team has that SLA
    target: without one there is no clock, and every later message of the conversation would take
    the routed path for nothing (it halved inbound while agents replied: bench/RESULTS.md, "Mixed
    load"). (Routing on every message of a waiting conversation cost a sixth of the hub's CPU.)
    """
    if new or reopened or (assignee_id is None and not queued):
        return True
    return (first_response_at is not None and next_response_due_at is None
            and route.restarts_clock(session, team_id, priority))
