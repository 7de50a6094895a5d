"""Named writes on conversations: ingest, reply, note, status, assignment.

`do_*` functions assume validated input and run inside the caller's write transaction; they append
the events that record what they changed. Publishing happens after commit (hub.db.Database.write).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, inspect, select
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from hub.attachments.actions import as_port, do_link
from hub.attachments.models import StoredAttachment
from hub.channel_cursors import do_store_cursor
from hub.clock import utcnow
from hub.contacts.actions import identities_of, mark_created, new_contact_row, resolve_contact_id
from hub.contacts.opt_outs import check_may_message
from hub.conversations.ingest_sql import ConversationRow, IngestSql, Lookup
from hub.conversations.models import STATUSES, Conversation, ConversationMention, Message
from hub.conversations.schemas import conversation_dict, inbound_message_dict, message_dict
from hub.conversations.threads import find_threaded, record_keys
from hub.delivery.actions import do_enqueue
from hub.errors import Invalid, NotFound
from hub.events import log
from hub.events.types import ConversationCreated, MessageCreated, NoteCreated, StatusChanged
from hub.events.types.conversations import ASSIGNMENTS
from hub.ports import InboundMessage, IngestResult


class RouteHook(Protocol):
    """Called inside the transaction whenever a conversation becomes routable (new, reopened,
    requeued). `first_text`: the text of a new conversation's first message, when that message is
    not written yet (`_ingest_new` routes first, then writes everything at once).

    A hook may also offer `board_after(session) -> int | None` and `board_rows(session, after,
    rows)` (hub.routing.actions.Router does): on PostgreSQL ingest's lookup then reads the routing
    board's refresh for a first conversation, which saves the route hook that round trip."""

    def __call__(self, session: Session, conv: Conversation, *, first_text: str | None = None) -> None: ...


def find_ingested(session: Session, scope: str, external_id: str) -> Message | None:
    return session.execute(
        select(Message).where(Message.ingest_scope == scope, Message.external_id == external_id)
    ).scalar_one_or_none()


def _find_open_conversation(
    session: Session, contact_id: int, msg: InboundMessage, reopen_window: timedelta
) -> Conversation | None:
    conv = (
        session.execute(
            select(Conversation)
            .where(
                Conversation.contact_id == contact_id,
                Conversation.channel == msg.channel,
                Conversation.source == msg.source,
            )
            .order_by(Conversation.id.desc())  # type: ignore[union-attr]
            .limit(1)
        )
        .scalars()
        .first()
    )
    if conv is None:
        return None
    if conv.status == "resolved" and (conv.resolved_at is None or utcnow() - conv.resolved_at > reopen_window):
        return None
    return conv


def _needs_routing(*, new: bool, reopened: bool, assignee_id: int | None, queued: bool,
                   first_response_at: object | None, next_response_due_at: object | None) -> bool:
    """Whether a customer message must run the route hook.

    A new or reopened conversation is routed; so is an open one without an agent that was never
    queued. One already waiting in a queue is not: the queue drains by itself whenever capacity
    frees (hub.routing.service), so routing it again per message changes nothing. A message after
    an agent's reply restarts the next-response clock. (Routing on every message of a waiting
    conversation cost a sixth of the hub's CPU: bench/RESULTS.md.)
    """
    next_clock = first_response_at is not None and next_response_due_at is None
    return new or reopened or (assignee_id is None and not queued) or next_clock


def do_ingest(
    session: Session,
    msg: InboundMessage,
    *,
    reopen_window: timedelta = timedelta(days=7),
    route: RouteHook | None = None,
) -> IngestResult:
    """Store one inbound message: contact, conversation, message and events, in one transaction.

    A redelivery returns the stored result. Concurrent duplicates are stopped by the unique
    constraint on (ingest_scope, external_id); the caller retries and then finds the first copy.
    The common case (a known customer writing into an open conversation that needs no routing)
    runs in plain SQL (hub.conversations.ingest_sql); everything else through the ORM.
    Precondition: `msg.html` is already cleaned (hub.conversations.sanitize.clean_inbound, done by
    `Hub.ingest` before the writer); it is stored as it is.
    """
    sql = IngestSql.of(session)
    key = (msg.ingest_scope, msg.external_id)
    idents = identities_of(msg.contact, msg.ingest_scope)
    if msg.cursor is not None:  # with the message, also when it is a redelivery (the read covered it)
        do_store_cursor(session, msg.cursor)
    first = None if msg.threaded else (msg.channel, msg.source)
    board_after = getattr(route, "board_after", None) if first is not None and not sql.sqlite else None
    after = board_after(session) if board_after is not None else None
    look = sql.lookup([key], idents, 1, first, after)
    if look.board_rows is not None:  # (only ever filled when asked for: `after` is set)
        route.board_rows(session, after, look.board_rows)  # type: ignore[union-attr, arg-type]
    found = look.stored.get(key)
    if found is not None:
        return IngestResult(*found, created=False)
    contact_id = _known_contact(msg, idents, look.known)
    if contact_id is not None and not msg.threaded:  # thread keys are resolved by the ORM path
        conv = look.conversations.get((contact_id, msg.channel, msg.source))
        if _takes_plain_path(conv, routed=route is not None):
            assert conv is not None
            return _write_known(session, sql, [(msg, contact_id, conv.id)], look.message_ids)[0]
    if _starts_first_conversation(msg, idents, contact_id, look):
        return _ingest_new(session, sql, msg, idents, contact_id, look.message_ids[0], look.new_ids, route=route)
    known = {i: look.known[i][0] for i in idents if i in look.known}
    return _ingest_orm(session, msg, reopen_window=reopen_window, route=route, known=known,
                       conversation_id=look.new_ids[0] if look.new_ids else None)


def do_ingest_many(
    session: Session,
    msgs: list[InboundMessage],
    *,
    reopen_window: timedelta = timedelta(days=7),
    route: RouteHook | None = None,
) -> list[IngestResult | Exception]:
    """`do_ingest` for a batch (group commit), with a few statements per batch, not per message.

    Messages on the plain-SQL path up to the first one that is not are looked up and written
    together; from that one on, each goes through `do_ingest` in order (what it changes, a new
    conversation say, could change how the next ones must be handled). A message repeated within
    the batch is a redelivery of its first copy. A message whose contact is invalid gets its
    `Invalid` in its slot, and nothing of it is written: one bad sender never fails the batch.
    """
    if len(msgs) == 1 or any(m.threaded or m.cursor is not None for m in msgs):
        return [do_ingest(session, m, reopen_window=reopen_window, route=route) for m in msgs]
    sql = IngestSql.of(session)
    keys = [(m.ingest_scope, m.external_id) for m in msgs]
    results: list[IngestResult | Exception | None] = [None] * len(msgs)
    idents: list[list[tuple[str, str]]] = []
    for i, m in enumerate(msgs):
        try:
            idents.append(identities_of(m.contact, m.ingest_scope))
        except Invalid as exc:
            results[i] = exc
            idents.append([])
    look = sql.lookup(list(dict.fromkeys(keys)), list(dict.fromkeys(i for group in idents for i in group)),
                      len(msgs))
    stored, convs = look.stored, look.conversations
    contacts = [_known_contact(m, group, look.known) if group else None for m, group in zip(msgs, idents, strict=True)]

    plain: list[tuple[int, tuple[InboundMessage, int, int]]] = []
    first_of: dict[tuple[str, str], int] = {}
    rest = len(msgs)
    for i, (msg, key, contact_id) in enumerate(zip(msgs, keys, contacts, strict=True)):
        if results[i] is not None:
            continue  # invalid
        if key in stored:
            results[i] = IngestResult(*stored[key], created=False)
            continue
        if key in first_of:
            continue  # answered below, from its first copy
        conv = convs.get((contact_id, msg.channel, msg.source)) if contact_id is not None else None
        if contact_id is None or not _takes_plain_path(conv, routed=route is not None):
            rest = i
            break
        assert conv is not None
        first_of[key] = i
        plain.append((i, (msg, contact_id, conv.id)))
    if plain:
        for (i, _), result in zip(plain, _write_known(session, sql, [p for _, p in plain], look.message_ids),
                                  strict=True):
            results[i] = result
    for i in range(rest):
        if results[i] is None:
            first = results[first_of[keys[i]]]
            assert isinstance(first, IngestResult)
            results[i] = IngestResult(first.message_id, first.conversation_id, first.contact_id, created=False)
    for i in range(rest, len(msgs)):
        if results[i] is None:
            results[i] = do_ingest(session, msgs[i], reopen_window=reopen_window, route=route)
    return results  # type: ignore[return-value]


def _known_contact(msg: InboundMessage, idents: list[tuple[str, str]],
                   known: dict[tuple[str, str], tuple[int, str]]) -> int | None:
    """The contact the plain-SQL path may use: every identity is known and nothing about the
    contact changes (no identity to attach, no name to fill in). Else None: the ORM path."""
    if not all(i in known for i in idents):
        return None
    contact_id, name = known[idents[0]]
    if not name and (msg.contact.name or "").strip():
        return None
    return contact_id


def _starts_first_conversation(msg: InboundMessage, idents: list[tuple[str, str]], contact_id: int | None,
                               look: Lookup) -> bool:
    """Whether `_ingest_new` writes this message: a new customer (no identity known), or a known
    one needing no change (`contact_id`) without any conversation on this channel and entry point
    (a resolved one might be reopened: the ORM path decides)."""
    if msg.threaded:
        return False
    if contact_id is None:
        return not any(i in look.known for i in idents)
    return (contact_id, msg.channel, msg.source) not in look.conversations


def _takes_plain_path(conv: ConversationRow | None, *, routed: bool) -> bool:
    return conv is not None and conv.status == "open" and not (routed and _needs_routing(
        new=False, reopened=False, assignee_id=conv.assignee_id, queued=conv.queued,
        first_response_at=conv.first_response_at, next_response_due_at=conv.next_response_due_at,
    ))


def _message_row(msg: InboundMessage, message_id: int | None, conversation_id: int, contact_id: int,
                 now: datetime) -> dict[str, Any]:
    """An inbound message's row as every ingest path writes it (`IngestSql.write_known` keys)."""
    return {
        "id": message_id, "conversation_id": conversation_id, "contact_id": contact_id, "channel": msg.channel,
        "text": msg.text, "html": msg.html, "subject": msg.subject,  # cleaned before the writer
        "attachments": [a.as_dict() for a in msg.attachments], "scope": msg.ingest_scope,
        "external_id": msg.external_id, "created_at": msg.received_at or now,
    }


def _message_created(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The `message.created` event consoles get for a `_message_row` (its `id` set)."""
    message = inbound_message_dict(
        row["id"], conversation_id=row["conversation_id"], contact_id=row["contact_id"], channel=row["channel"],
        text=row["text"], html=row["html"], subject=row["subject"], attachments=row["attachments"],
        created_at=row["created_at"],
    )
    event = MessageCreated(conversation_id=row["conversation_id"], contact_id=row["contact_id"], message=message)
    return event.row(now)


def _write_known(session: Session, sql: IngestSql, batch: list[tuple[InboundMessage, int, int]],
                 message_ids: list[int]) -> list[IngestResult]:
    """The plain-SQL writes for (message, contact id, conversation id), with ids drawn by
    `IngestSql.lookup`: the messages, the conversations' last activity, a `message.created` event
    each (as `_ingest_orm` writes it)."""
    now = utcnow()
    rows = [_message_row(msg, message_id, conv_id, contact_id, now)
            for (msg, contact_id, conv_id), message_id in zip(batch, message_ids, strict=False)]
    log.lock(session)
    events = [_message_created(row, now) for row in rows]
    sql.write_known(rows, sorted({conv_id for _, _, conv_id in batch}), now, events)
    log.mark_appended(session)
    return [IngestResult(row["id"], row["conversation_id"], row["contact_id"], created=True) for row in rows]


_CONVERSATION_COLUMNS = tuple(c.name for c in Conversation.__table__.columns)  # type: ignore[attr-defined]


def _ingest_new(session: Session, sql: IngestSql, msg: InboundMessage, idents: list[tuple[str, str]],
                contact_id: int | None, message_id: int, drawn: tuple[int, int | None] | None, *,
                route: RouteHook | None) -> IngestResult:
    """A first conversation on this channel and entry point, of a new customer (`contact_id`
    None) or of a known one whose contact needs no change: routed first, on a conversation not
    written yet, then written whole with its contact, message and every event in one statement
    (`IngestSql.write_new`). Through the ORM that was about a dozen round trips under the write
    lock. It writes what `_ingest_orm` writes (tests/hub/test_ingest_paths.py). `drawn`: the ids
    the lookup drew for it (PostgreSQL), if it did."""
    log.lock(session)
    conversation_id, new_contact_id = drawn or sql.next_ids(contact=contact_id is None)
    now = utcnow()
    contact: dict[str, Any] | None = None
    if contact_id is None:
        assert new_contact_id is not None
        contact_id = new_contact_id
        contact = {"id": contact_id, **new_contact_row(msg.contact, idents, now)}
        mark_created(session, contact_id, contact["tier"], contact["language"])
    conv = Conversation(
        id=conversation_id, contact_id=contact_id, channel=msg.channel, source=msg.source, subject=msg.subject,
        status="open", waiting_since=now, last_agent_id=None, last_message_at=now, created_at=now, updated_at=now,
    )
    message = _message_row(msg, message_id, conversation_id, contact_id, now)
    with sql.deferring() as pending:
        pending.events += [
            ConversationCreated(conversation_id=conversation_id, contact_id=contact_id,
                                conversation=conversation_dict(conv)).row(now),
            _message_created(message, now),
        ]
        if route is not None:  # a new conversation always needs routing (`_needs_routing`)
            route(session, conv, first_text=msg.text)
    sql.write_new(contact, idents, {c: getattr(conv, c) for c in _CONVERSATION_COLUMNS}, message, pending)
    log.mark_appended(session)
    # In the session as if just loaded: later work in this transaction finds it there.
    make_transient_to_detached(conv)
    session.add(conv)
    return IngestResult(message_id, conversation_id, contact_id, created=True)


# The message of `_ingest_orm`, as a Core statement (no entity; `_write_known` writes the same row).
_INSERT_MESSAGE = insert(Message.__table__).returning(Message.__table__.c.id)  # type: ignore[attr-defined]


def _ingest_orm(session: Session, msg: InboundMessage, *, reopen_window: timedelta,
                route: RouteHook | None, known: dict[tuple[str, str], int] | None = None,
                conversation_id: int | None = None) -> IngestResult:
    """Ingest through the ORM (a new contact or conversation, a reopen, routing to run).

    The conversation is an entity (the route hook works on it); a new contact, the message and the
    events before routing's are written without entities, as `_write_known` writes them: nothing
    reads them back as entities, and through the ORM they cost a flush each.
    """
    contact_id, new_contact = resolve_contact_id(session, msg.contact, ref_scope=msg.ingest_scope, known=known)
    now = utcnow()
    # A strong thread key names its conversation whoever writes; else a contact created just now
    # has no conversation yet.
    conv = find_threaded(session, msg, contact_id, reopen_window) if msg.threaded else None
    if conv is None and not new_contact:
        conv = _find_open_conversation(session, contact_id, msg, reopen_window)
    new_conversation = conv is None
    previous_status = None
    if conv is None:
        conv = Conversation(
            id=conversation_id,  # drawn by the lookup (PostgreSQL), else by the database now
            contact_id=contact_id,
            channel=msg.channel,
            source=msg.source,
            subject=msg.subject,
            status="open",
            waiting_since=now,
            last_agent_id=None,
            last_message_at=now,
            updated_at=now,
        )
        session.add(conv)
    else:
        if conv.status != "open":
            previous_status = conv.status
            conv.status = "open"
            conv.snoozed_until = None
            conv.resolved_at = None
            if conv.assignee_id is None:
                conv.waiting_since = now
        conv.last_message_at = now
        conv.updated_at = now
    # The conversation (and a known contact's changes): the rows the plain SQL below refers to.
    session.flush()
    assert conv.id is not None
    record_keys(session, msg.channel, msg.own_thread_keys, conv.id)

    sql = IngestSql.of(session)
    row = _message_row(msg, None, conv.id, contact_id, now)
    row["id"] = message_id = session.execute(_INSERT_MESSAGE, {
        "conversation_id": conv.id, "contact_id": contact_id, "channel": msg.channel, "direction": "in",
        "text": msg.text, "html": row["html"], "subject": msg.subject, "attachments": row["attachments"],
        "ingest_scope": msg.ingest_scope, "external_id": msg.external_id, "created_at": row["created_at"],
    }).scalar_one()

    # Events in the order a console should see them: the conversation, its message, then routing
    # (the route hook's events are flushed after these, so their ids follow).
    log.lock(session)
    events: list[dict[str, Any]] = []
    if new_conversation:
        events.append(ConversationCreated(conversation_id=conv.id, contact_id=contact_id,
                                          conversation=conversation_dict(conv)).row(now))
    elif previous_status is not None:
        events.append(StatusChanged(conversation_id=conv.id, contact_id=contact_id, from_=previous_status, to="open",
                                    reason="customer_message", conversation=conversation_dict(conv)).row(now))
    events.append(_message_created(row, now))
    sql.insert_events(events)
    log.mark_appended(session)
    if route is not None and _needs_routing(
        new=new_conversation, reopened=previous_status is not None, assignee_id=conv.assignee_id,
        queued=conv.queued_at is not None, first_response_at=conv.first_response_at,
        next_response_due_at=conv.next_response_due_at,
    ):
        route(session, conv)
    # Flushed now, so that a plain-SQL ingest later in the same transaction (group commit) appends
    # its events after these.
    session.flush()
    return IngestResult(message_id, conv.id, contact_id, created=True)


def get_conversation(session: Session, conversation_id: int) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conv


def do_reply(
    session: Session, conv: Conversation, *, agent_id: int, text: str, html: str | None = None,
    client_id: str | None = None, attachments: Sequence[StoredAttachment] = (),
) -> Message:
    """An agent's answer: stored, logged, and put in the outbox in one transaction. `html` must be
    cleaned already (hub.conversations.sanitize, before the writer); it is stored as it is.
    `attachments`: the agent's uploads it carries (hub.attachments.actions.check_uploads)."""
    if not text.strip():
        raise Invalid("a reply needs text")
    assert conv.id is not None
    check_may_message(session, conv.contact_id, conv.channel)
    now = utcnow()
    message = Message(
        conversation_id=conv.id,
        contact_id=conv.contact_id,
        channel=conv.channel,
        direction="out",
        author_agent_id=agent_id,
        text=text,
        html=html,
        subject=conv.subject,
        client_id=client_id,
        delivery_status="pending",
        created_at=now,
        attachments=[as_port(a).as_dict() for a in attachments],
    )
    session.add(message)
    session.flush()
    assert message.id is not None
    do_link(session, attachments, message.id)
    do_enqueue(
        session,
        channel=conv.channel,
        message_id=message.id,
        conversation_id=conv.id,
        payload={
            "source": conv.source,  # the address `to` is the delivery worker's (hub.delivery.addressing)
            "metadata": {"contact_id": conv.contact_id},
            "text": text,
            "html": message.html,
            "subject": conv.subject,
            "attachments": message.attachments,
        },
    )
    if conv.first_response_at is None:
        conv.first_response_at = now
    conv.next_response_due_at = None  # answered: the next-response clock stops
    conv.last_agent_id = agent_id
    conv.updated_at = now
    log.append(session, MessageCreated(conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=agent_id,
                                       message=message_dict(message)))
    return message


def do_add_note(session: Session, conv: Conversation, *, agent_id: int, text: str,
                mentions: list[int] | None = None, client_id: str | None = None) -> Message:
    if not text.strip():
        raise Invalid("a note needs text")
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
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    if status == "snoozed":
        if snoozed_until is None:
            raise Invalid("snoozing needs snoozed_until")
        if snoozed_until <= utcnow():
            raise Invalid("snoozed_until must be in the future")
    previous = conv.status
    if previous == status and status != "snoozed":
        return
    now = utcnow()
    values: dict[str, Any] = {"status": status, "snoozed_until": snoozed_until if status == "snoozed" else None,
                              "resolved_at": now if status == "resolved" else None, "updated_at": now}
    if status == "resolved":
        values["waiting_since"] = None
    sql = IngestSql.of(session)
    plain = status != "open" and sql.pending is None and inspect(conv).persistent
    for key, value in values.items():
        if plain:
            set_committed_value(conv, key, value)  # the entity as the row will be, nothing to flush
        else:
            setattr(conv, key, value)
    if status == "open" and conv.assignee_id is None:
        conv.waiting_since = now
        if route is not None:
            route(session, conv)
    assert conv.id is not None
    event = StatusChanged(conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=agent_id,
                          from_=previous, to=status, conversation=conversation_dict(conv))
    if plain:
        # Pending, snoozed or resolved (an agent's most frequent write): the row and its event in
        # one statement, without the ORM's flush (a round trip and more CPU than the rest of it).
        log.lock(session)
        sql.update_with_event("conversations", conv.id, values, event.row(now))
        log.mark_appended(session)
        return
    log.append(session, event)


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
    from_assignee, from_team = conv.assignee_id, conv.team_id
    now = utcnow()
    conv.assignee_id = assignee_id
    conv.team_id = team_id
    conv.waiting_since = None if assignee_id is not None else (conv.waiting_since or now)
    if assignee_id is not None:
        conv.last_agent_id = assignee_id
        conv.passed_agent_ids = conv.passed_at = None  # someone has it: a fresh start next time
    conv.updated_at = now
    log.append(session, ASSIGNMENTS[event_type](
        conversation_id=conv.id, contact_id=conv.contact_id, actor_agent_id=actor_agent_id,  # type: ignore[arg-type]
        assignee_id=assignee_id, team_id=team_id, from_assignee_id=from_assignee, from_team_id=from_team,
        reason=reason, note=note, conversation=conversation_dict(conv)))


def do_wake_snoozed(session: Session, *, route: RouteHook | None = None, limit: int = 200) -> int:
    due = (
        session.execute(
            select(Conversation)
            .where(Conversation.status == "snoozed", Conversation.snoozed_until <= utcnow())  # type: ignore[operator]
            .limit(limit)
        )
        .scalars()
        .all()
    )
    for conv in due:
        do_set_status(session, conv, "open", agent_id=None, route=route)
    return len(due)
