"""Ingest's entry point: a batch of inbound messages, each sent down one of the three paths.

1. A known customer writing into an open conversation that needs no routing: plain SQL
   (hub.ingest.known), a whole batch in one step. The conversation is the one a thread key names
   (hub.ingest.keys, as hub.conversations.threads finds it), else the customer's latest there.
2. A first conversation on a channel and entry point, of a new customer or of a known one whose
   contact needs no change, when no thread key names a conversation: routed, then written whole
   (hub.ingest.first); so is a new customer's message into the open conversation a strong thread
   key names, when it needs no routing (a colleague writing into a customer's thread). A batch
   writes a run of those together.
3. Everything else: the ORM (hub.ingest.orm).

All three write the same rows (hub.ingest.rows) and events; tests/ingest/test_paths.py compares
them column by column on both databases.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from sqlalchemy import select
from sqlmodel import Session, col

from hub.attachments.actions import do_add_kept, do_link_inbound
from hub.channel_cursors import do_store_cursor
from hub.contacts.actions import identities_of
from hub.conversations.models import Message
from hub.errors import Invalid
from hub.ingest.first import NewItem, ingest_first, write_new
from hub.ingest.keys import BatchKeys
from hub.ingest.known import write_known
from hub.ingest.lookup import ConversationRow, Lookup, draw_ids, lookup
from hub.ingest.orm import ingest_orm
from hub.ingest.routing_port import IngestRouting, needs_routing
from hub.plain_sql import PlainSql
from hub.ports import InboundMessage, IngestResult


def find_ingested(session: Session, scope: str, external_id: str) -> Message | None:
    return session.execute(
        select(Message).where(col(Message.ingest_scope) == scope, col(Message.external_id) == external_id)
    ).scalar_one_or_none()


def do_ingest(session: Session, msg: InboundMessage, *, reopen_window: timedelta = timedelta(days=7),
              route: IngestRouting | None = None) -> IngestResult:
    """Store one inbound message: contact, conversation, message and events, in the caller's
    transaction. A redelivery returns the stored result. Concurrent duplicates are stopped by the
    unique constraint on (ingest_scope, external_id); the caller retries and then finds the first copy.
    Precondition: `msg.html` is already cleaned (hub.conversations.sanitize.clean_inbound, done by
    `Hub.ingest` before the writer); it is stored as it is."""
    sql = PlainSql.of(session)
    key = (msg.ingest_scope, msg.external_id)
    idents = identities_of(msg.contact, msg.ingest_scope)
    if msg.cursor is not None:  # with the message, also when it is a redelivery (the read covered it)
        do_store_cursor(session, msg.cursor)
    first = None if msg.threaded else (msg.channel, msg.source)
    board = route.board_prefetch(session) if route is not None and first is not None and not sql.sqlite else None
    look = lookup(sql, [key], idents, 1, first, board)
    found = look.stored.get(key)
    if found is not None:
        return IngestResult(*found, created=False)
    contact_id = _known_contact(msg, idents, look.known)
    keys = BatchKeys.look_up(sql, [msg]) if msg.threaded else None
    threaded = keys.threaded(msg, contact_id) if keys is not None else None
    # Messages that need no answer are the ORM path's.
    if contact_id is not None and msg.needs_answer:
        conv = threaded or look.conversations.get((contact_id, msg.channel, msg.source))
        if _takes_plain_path(session, conv, route):
            assert conv is not None
            if keys is not None:
                keys.claim(msg, conv)
            return write_known(session, sql, [(msg, contact_id, conv.id)], look.message_ids,
                               keys.new if keys is not None else None)[0]
    if threaded is None and _starts_first_conversation(msg, idents, contact_id, look):
        return ingest_first(session, sql, msg, idents, contact_id, look.message_ids[0], look.new_ids, route=route)
    known = {i: look.known[i][0] for i in idents if i in look.known}
    return ingest_orm(session, sql, msg, look.message_ids[0], reopen_window=reopen_window, route=route,
                      known=known, conversation_id=look.new_ids[0] if look.new_ids else None)


def do_ingest_many(session: Session, msgs: list[InboundMessage], *, reopen_window: timedelta = timedelta(days=7),
                   route: IngestRouting | None = None) -> list[IngestResult | Exception]:
    """`do_ingest` for a batch (group commit), with a few statements per batch, not per message:
    what `Hub` calls. Files the channel kept (`HubPort.keep_file_async`) get their rows first, so
    the messages are stored with their ids; those and the files it stored before
    (`store_attachment_async`) are tied to the messages written now."""
    msgs, fresh = do_add_kept(session, msgs)
    results = _ingest_batch(session, msgs, reopen_window=reopen_window, route=route)
    if any(m.attachments for m in msgs):
        do_link_inbound(session, zip(msgs, results, strict=True), fresh)
    return results


def _ingest_batch(session: Session, msgs: list[InboundMessage], *, reopen_window: timedelta,
                  route: IngestRouting | None) -> list[IngestResult | Exception]:
    """`do_ingest_many` without the attachments.

    Messages on the plain-SQL path are looked up and written together; the others then follow in
    order: a run of path 2's (`_new_item`, decided from the batch's lookup) written together
    (`write_new`), the rest through `do_ingest` one by one, and so does every later message of their contacts (or
    sharing an identity with one: what it changes, a new conversation say, could change how the
    next ones must be handled). So each conversation's events keep the order of its messages;
    other customers' messages are not held up by one that needs the ORM (a message after every
    reply did that: bench/RESULTS.md, "Mixed load"). Thread keys likewise (hub.ingest.keys): a
    message naming a key of one written one by one waits behind it, and so does one into the
    conversation of a customer who has a message among those. A message repeated within the batch is a
    redelivery of its first copy. A message whose contact is invalid gets its
    `Invalid` in its slot, and nothing of it is written: one bad sender never fails the batch.
    """
    if len(msgs) == 1 or any(m.cursor is not None or not m.needs_answer for m in msgs):
        return [do_ingest(session, m, reopen_window=reopen_window, route=route) for m in msgs]
    sql = PlainSql.of(session)
    keys = [(m.ingest_scope, m.external_id) for m in msgs]
    results: list[IngestResult | Exception | None] = [None] * len(msgs)
    idents: list[list[tuple[str, str]]] = []
    for i, m in enumerate(msgs):
        try:
            idents.append(identities_of(m.contact, m.ingest_scope))
        except Invalid as exc:
            results[i] = exc
            idents.append([])
    look = lookup(sql, list(dict.fromkeys(keys)), list(dict.fromkeys(i for group in idents for i in group)),
                  len(msgs))
    stored, convs = look.stored, look.conversations
    tkeys = BatchKeys.look_up(sql, msgs)
    contacts = [_known_contact(m, group, look.known) if group else None for m, group in zip(msgs, idents, strict=True)]

    plain: list[tuple[int, tuple[InboundMessage, int, int]]] = []
    first_of: dict[tuple[str, str], int] = {}
    # Messages written after the plain ones, in order: a run of new customers' and first
    # conversations' (a `NewItem`) together, the others (None) one by one.
    alone: list[tuple[int, NewItem | None]] = []
    # Contacts and identities with a message among `alone`: their later messages wait behind it
    # (it may change their contact or conversation); everybody else's still go together.
    behind_contacts: set[int] = set()
    behind_idents: set[tuple[str, str]] = set()
    for i, (msg, key, contact_id) in enumerate(zip(msgs, keys, contacts, strict=True)):
        if results[i] is not None:
            continue  # invalid
        if key in stored:
            results[i] = IngestResult(*stored[key], created=False)
            continue
        if key in first_of:
            continue  # answered below, from its first copy
        conv = convs.get((contact_id, msg.channel, msg.source)) if contact_id is not None else None
        threaded = tkeys.threaded(msg, contact_id) if msg.threaded else None
        conv = threaded or conv
        behind = (contact_id in behind_contacts or not behind_idents.isdisjoint(idents[i]) or tkeys.waits(msg)
                  or (conv is not None and conv.contact_id in behind_contacts))
        if behind or contact_id is None or not _takes_plain_path(session, conv, route):
            # What the batch's lookup says still holds for a message behind none of those.
            alone.append((i, None if behind else _new_item(session, msg, idents[i], contact_id, threaded, look,
                                                          route)))
            if contact_id is not None:
                behind_contacts.add(contact_id)
            behind_idents.update(idents[i])
            behind_contacts.update(tkeys.named_contacts(msg))
            tkeys.block(msg)
            continue
        assert conv is not None
        tkeys.claim(msg, conv)
        first_of[key] = i
        plain.append((i, (msg, contact_id, conv.id)))
    if plain:
        for (i, _), result in zip(plain, write_known(session, sql, [p for _, p in plain], look.message_ids,
                                                     tkeys.new), strict=True):
            results[i] = result
    run: list[tuple[int, NewItem]] = []
    for i, new in [*alone, (-1, None)]:  # (the last, no message, writes the last run)
        if new is not None:
            run.append((i, new))
            continue
        if run:
            for (j, _), result in zip(run, _write_new(session, sql, [n for _, n in run], route), strict=True):
                results[j] = result
            run = []
        if i >= 0:
            results[i] = do_ingest(session, msgs[i], reopen_window=reopen_window, route=route)
    for i, key in enumerate(keys):
        if results[i] is None:
            first = results[first_of[key]]
            assert isinstance(first, IngestResult)
            results[i] = IngestResult(first.message_id, first.conversation_id, first.contact_id, created=False)
    return cast("list[IngestResult | Exception]", results)  # every slot is filled by now


def _new_item(session: Session, msg: InboundMessage, idents: list[tuple[str, str]], contact_id: int | None,
              threaded: ConversationRow | None, look: Lookup, route: IngestRouting | None) -> NewItem | None:
    """The message as `write_new` writes it, if it does: a first conversation (path 2), or a new
    customer writing into the open conversation a strong thread key names, needing no routing
    (a colleague answering in a customer's thread). Else None: `do_ingest`."""
    if threaded is None:
        return NewItem(msg, idents, contact_id) if _starts_first_conversation(msg, idents, contact_id, look) else None
    if contact_id is None and not any(i in look.known for i in idents) and _takes_plain_path(session, threaded, route):
        return NewItem(msg, idents, None, threaded)
    return None


def _write_new(session: Session, sql: PlainSql, items: list[NewItem],
               route: IngestRouting | None) -> list[IngestResult]:
    conversations = sum(n.into is None for n in items)
    # The routing board's refresh read with the ids, as `do_ingest`'s lookup reads it (PostgreSQL).
    board = route.board_prefetch(session) if route is not None and conversations and not sql.sqlite else None
    message_ids, conversation_ids, contact_ids = draw_ids(
        sql, len(items), conversations, sum(n.contact_id is None for n in items), board)
    return write_new(session, sql, items, message_ids, conversation_ids, contact_ids, route=route)


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
    """Whether path 2 writes this message: a new customer (no identity known), or a known one
    needing no change (`contact_id`) without any conversation on this channel and entry point (a
    resolved one might be reopened: the ORM path decides). Never for a message that needs no
    answer: this path routes. (The caller has checked that no thread key names a conversation.)"""
    if not msg.needs_answer:
        return False
    if contact_id is None:
        return not any(i in look.known for i in idents)
    return (contact_id, msg.channel, msg.source) not in look.conversations


def _takes_plain_path(session: Session, conv: ConversationRow | None, route: IngestRouting | None) -> bool:
    return conv is not None and conv.status == "open" and not (route is not None and needs_routing(
        route, session, new=False, reopened=False, assignee_id=conv.assignee_id, queued=conv.queued,
        first_response_at=conv.first_response_at, next_response_due_at=conv.next_response_due_at,
        team_id=conv.team_id, priority=conv.priority,
    ))
