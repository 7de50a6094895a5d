"""Agents' named writes on conversations: note, status, assignment (a reply: hub.conversations.replies;
ingest: hub.ingest).

`do_*` functions assume validated input and run inside the caller's write transaction; they append
the events that record what they changed. Publishing happens after commit (hub.db.Database.write).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.conversations.models import STATUSES, Conversation, ConversationMention, Message
from hub.conversations.schemas import conversation_dict, message_dict
from hub.errors import Invalid, NotFound
from hub.events import log, writes
from hub.events.types import NoteCreated, StatusChanged, TypedEvent
from hub.events.types.conversations import ASSIGNMENTS
from hub.plain_sql import PlainSql

# Routing, called inside the transaction whenever a conversation becomes routable (reopened,
# requeued, woken): it routes and writes what it decided (hub.routing.actions.Router.on_routable).
RouteHook = Callable[[Session, Conversation], None]


def get_conversation(session: Session, conversation_id: int) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id} does not exist", reason="conversation_not_found")
    return conv


def do_add_note(session: Session, conv: Conversation, *, agent_id: int, text: str,
                mentions: list[int] | None = None, client_id: str | None = None) -> Message:
    if not text.strip():
        raise Invalid("a note needs text", reason="empty", field="text")
    assert conv.id is not None
    note = Message(
        conversation_id=conv.id,
        contact_id=conv.contact_id,
        channel=conv.channel,
        direction="note",
        author_agent_id=agent_id,
        text=text,
        client_id=client_id,
    )
    session.add(note)
    session.flush()
    conv.updated_at = utcnow()
    log.append(session, NoteCreated(conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=agent_id,
                                    message=message_dict(note), mentions=mentions or []))
    _record_mentions(session, conv.id, note, mentions or [])
    return note


def _record_mentions(session: Session, conversation_id: int, note: Message, mentions: list[int]) -> None:
    """One row per (agent, conversation), pointing at the latest note that mentions them: the
    inbox's "mentions" view finds an agent's conversations by this table's key."""
    assert note.id is not None
    for agent_id in dict.fromkeys(mentions):
        row = session.get(ConversationMention, (agent_id, conversation_id))
        if row is None:
            session.add(ConversationMention(agent_id=agent_id, conversation_id=conversation_id,
                                            last_message_id=note.id, mentioned_at=note.created_at))
        else:
            row.last_message_id, row.mentioned_at = note.id, note.created_at


def do_set_status(
    session: Session,
    conv: Conversation,
    status: str,
    *,
    agent_id: int | None,
    snoozed_until: datetime | None = None,
    route: RouteHook | None = None,
) -> None:
    values = status_values(status, snoozed_until)
    previous = conv.status
    if previous == status and status != "snoozed":
        return
    plain = status != "open" and inspect(conv).persistent
    for key, value in values.items():
        if plain:
            set_committed_value(conv, key, value)  # the entity as the row will be, nothing to flush
        else:
            setattr(conv, key, value)
    if status == "open" and conv.assignee_id is None:
        conv.waiting_since = values["updated_at"]
        if route is not None:
            route(session, conv)
    if plain:
        write_status(session, conv, previous, values, agent_id)
        return
    assert conv.id is not None
    log.append(session, StatusChanged(conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=agent_id,
                                      from_=previous, to=status, conversation=conversation_dict(conv)))


def status_values(status: str, snoozed_until: datetime | None) -> dict[str, Any]:
    """The conversation's columns a change to `status` sets (Invalid for a status or a snooze time
    that cannot be)."""
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    if status == "snoozed":
        if snoozed_until is None:
            raise Invalid("snoozing needs snoozed_until")
        if snoozed_until <= utcnow():
            raise Invalid("snoozed_until must be in the future", reason="snooze_past")
    now = utcnow()
    values: dict[str, Any] = {"status": status, "snoozed_until": snoozed_until if status == "snoozed" else None,
                              "resolved_at": now if status == "resolved" else None, "updated_at": now}
    if status == "resolved":
        values["waiting_since"] = None
    return values


def write_status(session: Session, conv: Any, previous: str, values: dict[str, Any],
                 agent_id: int | None) -> None:
    """Pending, snoozed or resolved (an agent's most frequent write): the row (`conv` holds its new
    values already) and its event in one statement, without the ORM's flush (a round trip and
    more CPU than the rest of it)."""
    event = StatusChanged(conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=agent_id,
                          from_=previous, to=values["status"], conversation=conversation_dict(conv))
    log.lock(session)
    writes.update_with_event(PlainSql.of(session), "conversations", conv.id, values, event, values["updated_at"])
    log.mark_appended(session)


def do_assign(
    session: Session,
    conv: Conversation,
    *,
    assignee_id: int | None,
    team_id: int | None,
    actor_agent_id: int | None,
    reason: str,
    note: str | None = None,
    event_type: str = "conversation.assigned",
) -> None:
    """Set who owns a conversation and in which queue it is; records where it came from."""
    log.append(session, assignment(conv, assignee_id=assignee_id, team_id=team_id, actor_agent_id=actor_agent_id,
                                   reason=reason, note=note, event_type=event_type))


def assignment(
    conv: Conversation,
    *,
    assignee_id: int | None,
    team_id: int | None,
    actor_agent_id: int | None,
    reason: str,
    note: str | None = None,
    event_type: str = "conversation.assigned",
) -> TypedEvent:
    """`do_assign`'s change to the entity, and its event for the caller to write (routing writes
    it with a first conversation's rows, hub.routing.decision)."""
    from_assignee, from_team = conv.assignee_id, conv.team_id
    waited_from = conv.waiting_since.isoformat() if assignee_id is not None and conv.waiting_since else None
    now = utcnow()
    conv.assignee_id = assignee_id
    conv.team_id = team_id
    conv.waiting_since = None if assignee_id is not None else (conv.waiting_since or now)
    if assignee_id is not None:
        conv.last_agent_id = assignee_id
        conv.passed_agent_ids = conv.passed_at = None  # someone has it: a fresh start next time
    conv.updated_at = now
    assert conv.id is not None
    return ASSIGNMENTS[event_type](
        conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=actor_agent_id,
        assignee_id=assignee_id, team_id=team_id, from_assignee_id=from_assignee, from_team_id=from_team,
        reason=reason, note=note, conversation=conversation_dict(conv), waited_from=waited_from)


def do_wake_snoozed(session: Session, *, route: RouteHook | None = None, limit: int = 200) -> int:
    due = (
        session.execute(
            select(Conversation)
            .where(col(Conversation.status) == "snoozed", col(Conversation.snoozed_until) <= utcnow())
            .limit(limit)
        )
        .scalars()
        .all()
    )
    for conv in due:
        do_set_status(session, conv, "open", agent_id=None, route=route)
    return len(due)
