"""Reads on conversations, filtered by what the asking agent may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, true
from sqlmodel import Session

from hub.conversations.models import Conversation, Message
from hub.events.visibility import AgentScope

# Events the console's thread shows as messages (and their delivery status), not inline as events.
MESSAGE_EVENTS = ("message.created", "note.created", "delivery.status_changed", "delivery.retry_scheduled",
                  "delivery.retried")


def work_filter(scope: AgentScope) -> Any:
    """`AgentScope.works_on` in SQL: the caller's own conversations, their teams', the shared inbox."""
    if scope.sees_everything:
        return true()
    clauses = [Conversation.team_id.is_(None), Conversation.assignee_id == scope.agent_id]  # type: ignore[union-attr]
    if scope.team_ids:
        clauses.append(Conversation.team_id.in_(sorted(scope.team_ids)))  # type: ignore[union-attr]
    return or_(*clauses)


def visible_filter(scope: AgentScope) -> Any:
    """`AgentScope.can_see_conversation` in SQL: what the caller may read."""
    return work_filter(scope) if scope.isolated else true()


def list_conversations(
    session: Session,
    scope: AgentScope,
    *,
    status: str | None = None,
    assignee: int | str | None = None,
    team_id: int | None = None,
    channel: str | None = None,
    contact_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Conversation]:
    # A contact's conversations: all the caller may read. Otherwise (an inbox): their scope of work
    # only, even where they may read more (company mode), or every list would be the company's.
    stmt = select(Conversation).where(work_filter(scope) if contact_id is None else visible_filter(scope))
    if status is not None:
        stmt = stmt.where(Conversation.status == status)
    if assignee == "none":
        stmt = stmt.where(Conversation.assignee_id.is_(None))  # type: ignore[union-attr]
    elif assignee is not None:
        stmt = stmt.where(Conversation.assignee_id == int(assignee))
    if team_id is not None:
        stmt = stmt.where(Conversation.team_id == team_id)
    if channel is not None:
        stmt = stmt.where(Conversation.channel == channel)
    if contact_id is not None:
        stmt = stmt.where(Conversation.contact_id == contact_id)
    if before_id is not None:
        stmt = stmt.where(Conversation.id < before_id)  # type: ignore[operator]
    stmt = stmt.order_by(Conversation.id.desc()).limit(limit)  # type: ignore[union-attr]
    return list(session.execute(stmt).scalars().all())


def page_of_messages(session: Session, conversation_id: int, *, before_id: int | None = None,
                     limit: int = 100) -> tuple[list[Message], bool]:
    """The latest `limit` messages (notes included) before `before_id`, oldest first, and whether
    older ones remain. Reads backwards along ix_messages_conversation: opening a long
    conversation costs one page, not its whole history."""
    stmt = select(Message).where(Message.conversation_id == conversation_id)
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)  # type: ignore[operator]
    stmt = stmt.order_by(Message.id.desc()).limit(limit + 1)  # type: ignore[union-attr]
    newest_first = list(session.execute(stmt).scalars().all())
    return newest_first[:limit][::-1], len(newest_first) > limit
