"""Router's offers and passes: an agent accepts or lets an offer lapse, hands a conversation back,
and is left out of its routing for the pass cooldown (a mixin of hub.routing.actions.Router)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.conversations.actions import do_assign
from hub.conversations.models import Conversation
from hub.conversations.schemas import conversation_dict
from hub.errors import Conflict
from hub.events import log
from hub.events.types import OfferWithdrawn
from hub.routing.board import Board
from hub.routing.config import RoutingConfig


def passed_on(conv: Conversation, agent_id: int, now: datetime) -> None:
    """Record that this agent passed on the conversation (routing leaves them out for a while)."""
    passed = dict(conv.passed_agent_ids or {})  # a new dict: the JSON column sees the change
    passed[str(agent_id)] = now.timestamp()
    conv.passed_agent_ids = passed
    conv.passed_at = now


class OfferActions:
    config: RoutingConfig
    board: Board

    def accept_offer(self, session: Session, conv: Conversation, agent_id: int) -> None:
        log.lock(session)
        if conv.offered_to_id != agent_id:
            raise Conflict("this conversation is not offered to you (the offer may have expired)", reason="offer_gone")
        conv.offered_to_id = None
        conv.offer_expires_at = None
        do_assign(session, conv, assignee_id=agent_id, team_id=conv.team_id, actor_agent_id=agent_id,
                  reason="offer_accepted")

    def hand_back(self, session: Session, conv: Conversation, agent_id: int, *, note: str | None = None) -> None:
        """The agent puts their conversation back in its queue; routing gives it to someone else
        (the drain that follows the requeue event), not to them while the pass cooldown runs."""
        log.lock(session)
        now = utcnow()
        passed_on(conv, agent_id, now)
        conv.waiting_since = now
        conv.queued_at = now  # back in the queue: escalation counts from now
        do_assign(session, conv, assignee_id=None, team_id=conv.team_id, actor_agent_id=agent_id,
                  reason="handed_back", note=note, event_type="conversation.requeued")

    def _excluded(self, passed: dict[str, float] | None, passed_at: datetime | None,
                  now: datetime) -> frozenset[int]:
        """The agents whose own pass is more recent than the cooldown (each counts from theirs)."""
        if not passed or passed_at is None or now >= passed_at + self.config.pass_cooldown:
            return frozenset()
        cutoff = (now - self.config.pass_cooldown).timestamp()
        return frozenset(int(agent) for agent, at in passed.items() if at > cutoff)

    def withdraw_offer(self, session: Session, conv: Conversation, *, reason: str) -> None:
        agent_id = conv.offered_to_id
        conv.offered_to_id = None
        conv.offer_expires_at = None
        conv.updated_at = utcnow()
        if agent_id is not None and reason in ("declined", "timeout"):
            passed_on(conv, agent_id, conv.updated_at)
        assert conv.id is not None
        log.append(session, OfferWithdrawn(conversation_id=conv.id, contact_id=conv.contact_id,
                                           agent_id=agent_id, reason=reason, from_assignee_id=agent_id,
                                           conversation=conversation_dict(conv)))

    def expire_offers(self, session: Session) -> int:
        log.lock(session)
        if self.board.view(session).offers == 0:
            return 0  # nothing is on offer (no need to look through the conversations)
        due = session.execute(
            select(Conversation).where(
                col(Conversation.offered_to_id).is_not(None),
                col(Conversation.offer_expires_at) <= utcnow(),
            ).limit(200)
        ).scalars().all()
        for conv in due:
            self.withdraw_offer(session, conv, reason="timeout")
        return len(due)
