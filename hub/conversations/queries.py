"""Reads on conversations, filtered by what the asking agent may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, true
from sqlmodel import Session, col

from hub.conversations.models import Conversation, Message
from hub.events.visibility import AgentScope

# Events the console's thread shows as messages (and their delivery status), not inline as events.
MESSAGE_EVENTS = ("message.created", "note.created", "delivery.status_changed", "delivery.retry_scheduled",
                  "delivery.retried")


def work_filter(scope: AgentScope) -> Any:
    """`AgentScope.works_on` in SQL: the caller's own conversations, their teams', the shared inbox."""
    if scope.sees_everything:
        return true()
    clauses = [col(Conversation.team_id).is_(None), col(Conversation.assignee_id) == scope.agent_id]
    if scope.team_ids:
        clauses.append(col(Conversation.team_id).in_(sorted(scope.team_ids)))
    return or_(*clauses)


def visible_filter(scope: AgentScope) -> Any:
    """`AgentScope.can_see_conversation` in SQL: what the caller may read."""
    return work_filter(scope) if scope.isolated else true()


def contact_conversations(session: Session, scope: AgentScope, contact_id: int, *,
                          limit: int = 200) -> list[Conversation]:
    """A contact's conversations, newest first: all the caller may read (not only their scope of
    work, as inbox lists are: hub/conversations/inbox.py)."""
    stmt = (
        select(Conversation)
        .where(visible_filter(scope), col(Conversation.contact_id) == contact_id)
        .order_by(col(Conversation.id).desc())
        .limit(limit)
    )
    return list(session.execute(stmt).scalars().all())


def page_of_messages(session: Session, conversation_id: int, *, before_id: int | None = None,
                     limit: int = 100) -> tuple[list[Message], bool]:
    """The latest `limit` messages (notes included) before `before_id`, oldest first, and whether
    older ones remain. Reads backwards along ix_messages_conversation: opening a long
    conversation costs one page, not its whole history."""
    stmt = select(Message).where(col(Message.conversation_id) == conversation_id)
    if before_id is not None:
        stmt = stmt.where(col(Message.id) < before_id)
    stmt = stmt.order_by(col(Message.id).desc()).limit(limit + 1)
    newest_first = list(session.execute(stmt).scalars().all())
    return newest_first[:limit][::-1], len(newest_first) > limit
