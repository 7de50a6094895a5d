"""People's assignment writes: an agent or supervisor reassigning, a supervisor's bulk transfer,
declining an offer. Who may do which is `hub.access.check_assign` / `check_offer`; these assume
it was asked. Routing's own decisions are `Router`'s (hub/routing/actions.py)."""

from __future__ import annotations

from sqlmodel import Session

from hub.agents.actions import get_agent, get_team
from hub.clock import utcnow
from hub.conversations.actions import do_assign, get_conversation
from hub.conversations.models import Conversation
from hub.errors import Conflict
from hub.routing.actions import Router
from hub.routing.offers import passed_on


def do_reassign(session: Session, router: Router, conv: Conversation, *, by: int, assignee_id: int | None,
                team_id: int | None, note: str | None) -> None:
    """Agent `by` gives `conv` to `assignee_id` (None: nobody) in `team_id`. Their own conversation
    given to nobody in the same team is handed back: requeued, not back to them for a while."""
    hand_back = assignee_id is None and conv.assignee_id == by and team_id == conv.team_id
    if assignee_id is not None:
        get_agent(session, assignee_id)
    if team_id is not None:
        get_team(session, team_id)
    if hand_back:
        router.hand_back(session, conv, by, note=note)
        return
    if assignee_id is None and conv.assignee_id is not None:
        # A supervisor takes it from its agent: routing must not hand it straight back.
        passed_on(conv, conv.assignee_id, utcnow())
    do_assign(session, conv, assignee_id=assignee_id, team_id=team_id, actor_agent_id=by, reason="manual",
              note=note)


def do_transfer(session: Session, router: Router, conversation_ids: list[int], *, assignee_id: int | None,
                team_id: int | None, actor_agent_id: int, note: str | None) -> list[Conversation]:
    """A supervisor's (bulk) reassignment: to an agent (above capacity too: the supervisor decides),
    to a team (None: each keeps its own), or both. Without an agent they wait in the queue, where
    routing picks them up. Each id once, in the order given."""
    if assignee_id is not None:
        get_agent(session, assignee_id)
    if team_id is not None:
        get_team(session, team_id)
    out = []
    for conv_id in dict.fromkeys(conversation_ids):
        conv = get_conversation(session, conv_id)
        to_team = team_id if team_id is not None else conv.team_id
        kind = "conversation.transferred" if to_team != conv.team_id else "conversation.assigned"
        if assignee_id is None:
            conv.offered_to_id = None
            conv.offer_expires_at = None
            conv.queued_at = None
        do_assign(session, conv, assignee_id=assignee_id, team_id=to_team, actor_agent_id=actor_agent_id,
                  reason="supervisor", note=note, event_type=kind)
        if assignee_id is None and conv.status == "open":
            router.on_routable(session, conv)
        out.append(conv)
    return out


def do_decline_offer(session: Session, router: Router, conv: Conversation, agent_id: int) -> None:
    """The chat goes back to the queue and is offered to the next agent."""
    if conv.offered_to_id != agent_id:
        raise Conflict("this conversation is not offered to you", reason="offer_gone")
    router.withdraw_offer(session, conv, reason="declined")
