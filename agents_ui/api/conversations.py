"""Conversations: list and filter, read with messages, reply, note, status, assignment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import Session

from agents_ui.api.contacts import contact_view
from agents_ui.api.schemas import AssignIn, NoteIn, ReplyIn, StatusIn
from agents_ui.deps import Caller, current_caller, get_hub
from hub import access, jsontext
from hub.contacts.queries import get_contact
from hub.conversations import actions, inbox, queries, receipts
from hub.conversations.agent_messages import check_add_note, check_reply
from hub.conversations.models import Message
from hub.conversations.sanitize import sanitize_html_async
from hub.conversations.schemas import conversation_dict, message_dict
from hub.conversations.status_change import change_status
from hub.errors import Invalid
from hub.events import log
from hub.routing import assignments
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.get("", summary="List conversations: the inbox")
def list_conversations(
    view: inbox.View | None = Query(None, description="mine, teams (my teams), unassigned, mentions (I was "
                                    "@mentioned) or all. With a view: newest activity first, and open and "
                                    "pending conversations unless `status` says otherwise"),
    status: Literal["open", "pending", "snoozed", "resolved"] | None = None,
    assignee: str | None = Query(None, description="an agent id, 'me', or 'none' for unassigned"),
    team_id: int | None = None,
    channel: str | None = None,
    contact_id: int | None = None,
    before: int | None = Query(None, description="page: conversations with a smaller id than this (without a view)"),
    limit: int = Query(50, ge=1, le=inbox.MAX_ROWS),
    caller: Caller = Depends(current_caller),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    """Each item is a conversation with what an inbox row shows: `contact_name`, `preview` (the last
    customer or agent message, never a note), `last_direction` ("in" or "out"; of the last message
    that is not `automatic`: an out-of-office leaves it as it was), `unread` (for the
    caller) and `offered_to_id`."""
    who: int | Literal["none"] | None = None
    if assignee == "me":
        who = caller.agent_id
    elif assignee == "none":
        who = "none"
    elif assignee is not None:
        if not assignee.isdigit():
            raise Invalid("assignee must be an agent id, 'me' or 'none'")
        who = int(assignee)
    if view is not None and before is not None:
        raise Invalid("views are ordered by activity and not paged by id: leave out `before`")
    f = inbox.InboxFilter(view=view, status=status, channel=channel, team_id=team_id, assignee=who,
                          contact_id=contact_id, before_id=before, limit=limit)
    with hub.db.read() as s:
        items = inbox.list_rows(s, caller.scope, f)
    more = view is None and len(items) == limit
    return {"items": items, "next_before": items[-1]["id"] if more else None}


@router.get("/counts", summary="How many open and pending conversations each inbox view holds")
def counts(caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> dict[str, int | None]:
    """`all` is given to supervisors and admins only (null for agents)."""
    with hub.db.read() as s:
        return inbox.counts(s, caller.scope)


@router.post("/{conversation_id}/read", summary="Mark a conversation read (for me)")
def mark_read(conversation_id: int, caller: Caller = Depends(current_caller),
              hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Up to its latest message; the inbox's `unread` turns false until someone else writes. The
    first agent to read the customer's latest message tells the customer (a read receipt)."""
    # Mostly no event and no routing: this transaction may skip the write lock (hub.db.Database.write).
    with hub.db.write(serialize=False) as s:
        access.check_read(caller.scope, actions.get_conversation(s, conversation_id))
        unseen = receipts.unseen_customer_message(s, conversation_id)
        if unseen is None:
            return {"conversation_id": conversation_id,
                    "last_read_message_id": inbox.do_mark_read(s, caller.agent_id, conversation_id)}
    # Rare (once per customer message): asked again, marked and told under the write lock, so that
    # of two agents reading at once only the first tells the customer.
    with hub.db.write() as s:
        unseen = receipts.unseen_customer_message(s, conversation_id)
        upto = inbox.do_mark_read(s, caller.agent_id, conversation_id)
        if unseen is not None:
            receipts.do_agent_read(s, conversation_id, caller.agent_id, unseen)
    return {"conversation_id": conversation_id, "last_read_message_id": upto}


@router.get("/{conversation_id}", summary="A conversation with its contact, messages and events")
def get_conversation(
    conversation_id: int,
    before: int | None = Query(None, description="page: messages with a smaller id than this"),
    limit: int = Query(100, ge=1, le=500, description="how many messages: the latest ones (before `before`)"),
    caller: Caller = Depends(current_caller),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    """`messages`: the latest `limit` (oldest first); `next_before` pages back to older ones (null when
    none remain). `events`: the conversation's other events (assigned, transferred, status changed,
    offered, escalated...) in the span of this page of messages, as the websocket sends them."""
    with hub.db.read() as s:
        conv = access.check_read(caller.scope, actions.get_conversation(s, conversation_id))
        contact = get_contact(s, conv.contact_id)
        messages, more = queries.page_of_messages(s, conversation_id, before_id=before, limit=limit)
        # The page's span: from its oldest message (from the start when nothing older remains) up
        # to the message the page was asked before, so that paging back shows every event once.
        since = messages[0].created_at if more and messages else None
        until = None
        if before is not None:
            upper = s.get(Message, before)
            until = upper.created_at if upper is not None and upper.conversation_id == conversation_id else None
        events = log.conversation_events(s, conversation_id, leave_out=queries.MESSAGE_EVENTS, since=since,
                                         until=until)
        return {
            "conversation": conversation_dict(conv),
            "contact": contact_view(s, contact),
            "messages": [message_dict(m) for m in messages],
            "next_before": messages[0].id if more and messages else None,
            # All of them: whoever may read the conversation may read its events (hub.access).
            "events": [jsontext.loads(ev.wire_json) for ev in events],
        }


# The writes below run in the hub's writer thread (`Hub.write_async`), in transactions shared with
# whatever else is being written at that moment: no thread of the pool is held while they wait.


async def _send(hub: Hub, response: Response, client_id: UUID | None,
                write: Callable[[Session, str | None], tuple[Message, bool]]) -> dict[str, Any]:
    """Runs an agent's send; a retry of one already stored (the same client id) answers 200."""
    key = str(client_id) if client_id is not None else None

    def op(s: Session) -> tuple[dict[str, Any], bool]:
        msg, created = write(s, key)
        return message_dict(msg), created

    msg, created = await hub.write_async(op, rerun_safe=key is not None)
    if not created:
        response.status_code = 200
    return msg


# A write sent again with the same client_id answers 200 with what the first one stored.
_AGAIN: dict[int | str, dict[str, Any]] = {
    200: {"description": "already stored: this client_id was sent before (the first copy)"}}


@router.post("/{conversation_id}/messages", status_code=201, summary="Reply to the customer", responses=_AGAIN)
async def reply(conversation_id: int, body: ReplyIn, response: Response, caller: Caller = Depends(current_caller),
                hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Stores the reply and queues it for delivery on the conversation's channel (outbox)."""
    html = await sanitize_html_async(body.html)  # before the writer, never inside its transaction

    def write(s: Session, client_id: str | None) -> tuple[Message, bool]:
        return check_reply(s, conversation_id, may_act=lambda conv: access.check_act(caller.scope, conv),
                           agent_id=caller.agent_id, text=body.text, html=html, client_id=client_id,
                           attachments=body.attachments, cc=body.cc)

    return await _send(hub, response, body.client_id, write)


@router.post("/{conversation_id}/notes", status_code=201, summary="Add an internal note", responses=_AGAIN)
async def add_note(conversation_id: int, body: NoteIn, response: Response, caller: Caller = Depends(current_caller),
                   hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Notes are visible to agents only; they never reach the customer."""
    def write(s: Session, client_id: str | None) -> tuple[Message, bool]:
        conv = access.check_note(caller.scope, actions.get_conversation(s, conversation_id))
        return check_add_note(s, conv, agent_id=caller.agent_id, text=body.text, mentions=body.mentions,
                              client_id=client_id)

    return await _send(hub, response, body.client_id, write)


@router.post("/{conversation_id}/status", summary="Open, set pending, snooze or resolve")
async def set_status(conversation_id: int, body: StatusIn, caller: Caller = Depends(current_caller),
                     hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    def write(s: Session) -> dict[str, Any]:
        return change_status(s, conversation_id, body.status, agent_id=caller.agent_id,
                             may_act=lambda conv: access.check_act(caller.scope, conv),
                             snoozed_until=body.snoozed_until, route=hub.route_hook)

    return await hub.write_async(write)


@router.post("/{conversation_id}/assign", summary="Assign, transfer or hand back a conversation")
async def assign(conversation_id: int, body: AssignIn, caller: Caller = Depends(current_caller),
                 hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Agents may take an unassigned conversation of their teams or the shared inbox, or hand one of
    theirs back to its queue (`assignee_id: null`): it goes to someone else, and not back to them for
    a while (settings: `routing.pass_cooldown_seconds`). Supervisors may give anything to anyone."""
    def write(s: Session) -> dict[str, Any]:
        conv = actions.get_conversation(s, conversation_id)
        team_id = body.team_id if body.team_id is not None else conv.team_id
        access.check_assign(caller.scope, conv, to=body.assignee_id, to_team=team_id)
        assignments.do_reassign(s, hub.router, conv, by=caller.agent_id, assignee_id=body.assignee_id,
                                team_id=team_id, note=body.note)
        return conversation_dict(conv)

    return await hub.write_async(write)
