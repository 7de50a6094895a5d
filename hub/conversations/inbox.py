"""The agent's inbox: rows of conversations with what a row shows, counts per view, read state.

A page of up to 500 rows is read in two statements whatever its size: the page of conversations
(with the contact's name, the caller's read mark and the id of the last customer or agent
message), then those messages by primary key (and a third for the rows whose last message is
automatic, an out-of-office say: who spoke last before it). Notes never make a preview.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, exists, false, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.contacts.models import Contact
from hub.conversations.models import Conversation, ConversationMention, ConversationRead, Message
from hub.conversations.queries import visible_filter, work_filter
from hub.conversations.schemas import CONVERSATION_COLUMNS, conversation_dict
from hub.db import table_of
from hub.events.visibility import AgentScope

View = Literal["mine", "teams", "unassigned", "mentions", "all"]
VIEWS: tuple[View, ...] = ("mine", "teams", "unassigned", "mentions", "all")
# What a view lists when no status is asked for, and what its count counts: the work at hand.
ACTIVE_STATUSES = ("open", "pending")
PREVIEW_CHARS = 160
MAX_ROWS = 500


@dataclass(frozen=True)
class InboxFilter:
    view: View | None = None
    status: str | None = None
    channel: str | None = None
    team_id: int | None = None
    assignee: int | Literal["none"] | None = None
    contact_id: int | None = None
    before_id: int | None = None  # paging by id; only without a view (views order by activity)
    limit: int = 50


def _view_clause(scope: AgentScope, view: View) -> Any:
    c = Conversation
    if view == "mine":
        return col(c.assignee_id) == scope.agent_id
    if view == "teams":
        return col(c.team_id).in_(sorted(scope.team_ids)) if scope.team_ids else false()
    if view == "unassigned":
        return col(c.assignee_id).is_(None)
    if view == "mentions":
        return _mentioned(scope.agent_id)
    return True


def _mentioned(agent_id: int) -> Any:
    return exists().where(col(ConversationMention.agent_id) == agent_id,
                          col(ConversationMention.conversation_id) == col(Conversation.id))


def _filters(scope: AgentScope, f: InboxFilter) -> list[Any]:
    c = Conversation
    # The inbox holds the caller's scope of work, even where they may read more (`company`
    # visibility: hub/events/visibility.py); a contact's conversations and the ones where a
    # colleague @mentioned the caller, all that they may read (a mention asks for help from
    # outside the team, and a note may be added wherever one may read).
    wide = f.contact_id is not None or f.view == "mentions"
    out: list[Any] = [visible_filter(scope) if wide else work_filter(scope)]
    if f.view is not None:
        out.append(_view_clause(scope, f.view))
    if f.status is not None:
        out.append(col(c.status) == f.status)
    elif f.view is not None:
        out.append(col(c.status).in_(ACTIVE_STATUSES))
    if f.channel is not None:
        out.append(col(c.channel) == f.channel)
    if f.team_id is not None:
        out.append(col(c.team_id) == f.team_id)
    if f.assignee == "none":
        out.append(col(c.assignee_id).is_(None))
    elif f.assignee is not None:
        out.append(col(c.assignee_id) == f.assignee)
    if f.contact_id is not None:
        out.append(col(c.contact_id) == f.contact_id)
    if f.before_id is not None:
        out.append(col(c.id) < f.before_id)
    return out


def _order(view: View | None) -> list[Any]:
    c = Conversation
    if view is None:
        return [col(c.id).desc()]
    return [col(c.last_message_at).desc().nulls_last(), col(c.id).desc()]


def list_rows(session: Session, scope: AgentScope, f: InboxFilter) -> list[dict[str, Any]]:
    """Inbox rows: `conversation_dict` plus `contact_name`, `preview`, `last_direction`, `unread`
    and `offered_to_id`, newest activity first when a view is given (else newest first)."""
    c = Conversation
    order = _order(f.view)
    # The page's ids first, so the per-row subquery below runs for the page only, not for every
    # conversation the filters match before sorting.
    page = select(col(c.id)).where(*_filters(scope, f)).order_by(*order).limit(min(f.limit, MAX_ROWS))
    last_id = (
        select(col(Message.id))
        .where(col(Message.conversation_id) == col(c.id), col(Message.direction).in_(("in", "out")))
        .order_by(col(Message.id).desc())
        .limit(1)
        .correlate(c)
        .scalar_subquery()
    )
    read = and_(col(ConversationRead.conversation_id) == col(c.id), col(ConversationRead.agent_id) == scope.agent_id)
    # Columns rather than entities: building 500 ORM objects cost more than the statement itself.
    columns = [getattr(c, name) for name in CONVERSATION_COLUMNS]
    stmt = (
        select(*columns, col(c.offered_to_id), col(Contact.name).label("contact_name"),
               col(ConversationRead.last_read_message_id), last_id.label("last_message_id"))
        .join(Contact, col(Contact.id) == col(c.contact_id))
        .outerjoin(ConversationRead, read)
        .where(col(c.id).in_(page))
        .order_by(*order)
    )
    rows = session.execute(stmt).all()
    last = _last_messages(session, [r.last_message_id for r in rows if r.last_message_id is not None])
    # A row whose last message needs no answer (an out-of-office, say) shows it, but who spoke
    # last is told by the message before it: the customer waits no more, and no less, for it.
    spoke = _last_spoken(session, [r.id for r in rows if (m := last.get(r.last_message_id)) and m[3]])
    out = []
    for row in rows:
        item = conversation_dict(row)
        last_message_id, read_upto = row.last_message_id, row.last_read_message_id
        msg = last.get(last_message_id)
        item["contact_name"] = row.contact_name
        item["offered_to_id"] = row.offered_to_id
        item["preview"] = msg[2] if msg else ""
        item["last_direction"] = (spoke.get(row.id) if msg[3] else msg[0]) if msg else None
        item["unread"] = bool(msg and last_message_id > (read_upto or 0) and msg[1] != scope.agent_id)
        out.append(item)
    return out


def _last_messages(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, int | None, str, bool]]:
    """By message id: direction, author, preview text (whitespace folded, at most PREVIEW_CHARS)
    and whether it is automatic. Only the head of each text is read: an email body may be long."""
    if not ids:
        return {}
    head = func.substr(Message.text, 1, PREVIEW_CHARS * 2)
    stmt = select(col(Message.id), col(Message.direction), col(Message.author_agent_id), head,
                  col(Message.automatic)).where(col(Message.id).in_(ids))
    return {mid: (direction, author, _preview(text), bool(automatic))
            for mid, direction, author, text, automatic in session.execute(stmt)}


def _last_spoken(session: Session, conversation_ids: Sequence[int]) -> dict[int, str]:
    """By conversation id: the direction of its last customer or agent message that is not
    automatic (none when it has none). Read only for the rows that need it: few."""
    if not conversation_ids:
        return {}
    m = Message
    latest = (
        select(col(m.conversation_id), func.max(col(m.id)).label("id"))
        .where(col(m.conversation_id).in_(conversation_ids), col(m.direction).in_(("in", "out")),
               col(m.automatic) == false())
        .group_by(col(m.conversation_id))
        .subquery()
    )
    stmt = select(latest.c.conversation_id, col(m.direction)).join(latest, col(m.id) == latest.c.id)
    return {cid: direction for cid, direction in session.execute(stmt)}


def _preview(text: str | None) -> str:
    folded = " ".join((text or "").split())
    return folded if len(folded) <= PREVIEW_CHARS else folded[: PREVIEW_CHARS - 1] + "…"


def counts(session: Session, scope: AgentScope) -> dict[str, int | None]:
    """Open and pending conversations per view, in one statement. `all` only for supervisors."""
    c = Conversation

    def n(clause: Any) -> Any:
        return func.coalesce(func.sum(case((clause, 1), else_=0)), 0)

    # Mentions by an outer join on their key rather than `_mentioned`'s EXISTS: in a CASE,
    # PostgreSQL ran that subquery once per conversation (150 ms for 2,000 of them).
    # Over what the caller may read (as the mentions view lists), each other view within their
    # scope of work (as `_filters`).
    mention = and_(col(ConversationMention.agent_id) == scope.agent_id,
                   col(ConversationMention.conversation_id) == col(c.id))
    work = work_filter(scope)
    clauses: dict[View, Any] = {v: and_(work, _view_clause(scope, v)) for v in VIEWS if v != "mentions"}
    clauses["mentions"] = col(ConversationMention.conversation_id).is_not(None)
    views = list(clauses)
    stmt = (
        select(*[n(clauses[v]) for v in views])
        .select_from(c)
        .outerjoin(ConversationMention, mention)
        .where(visible_filter(scope), col(c.status).in_(ACTIVE_STATUSES))
    )
    values = session.execute(stmt).one()
    out: dict[str, int | None] = {v: int(values[i]) for i, v in enumerate(views)}
    if not scope.sees_everything:
        out["all"] = None
    return out


def do_mark_read(session: Session, agent_id: int, conversation_id: int) -> int:
    """Mark the conversation read up to its latest message for this agent; returns that message's
    id (0 when it has none). A mark never moves back (two consoles, one behind the other).

    Appends no event and routes nothing: it may run in `Database.write(serialize=False)`."""
    latest = session.execute(
        select(func.coalesce(func.max(col(Message.id)), 0)).where(col(Message.conversation_id) == conversation_id)
    ).scalar_one()
    values = {"agent_id": agent_id, "conversation_id": conversation_id, "last_read_message_id": int(latest),
              "read_at": utcnow()}
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise RuntimeError(f"no upsert for {dialect}")
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(ConversationRead).values(**values)
    t = table_of(ConversationRead)
    session.execute(ins.on_conflict_do_update(
        index_elements=["agent_id", "conversation_id"],
        set_={"last_read_message_id": ins.excluded.last_read_message_id, "read_at": ins.excluded.read_at},
        where=t.c.last_read_message_id < ins.excluded.last_read_message_id,
    ))
    return int(latest)

