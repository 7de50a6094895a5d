"""The visibility rule's checks, as the errors routes answer with (the rule: hub.events.visibility).

Every route that reads or changes a conversation or a contact asks here, so the rule is applied
the same way everywhere: a conversation the caller may not read is refused before anything else
(403 on the conversation's own routes, 404 where only a known id would tell it exists).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from hub.attachments.actions import get_attachment
from hub.attachments.models import StoredAttachment
from hub.contacts.models import Contact
from hub.contacts.queries import get_contact
from hub.conversations.customers import has_conversation_within
from hub.conversations.models import Conversation, Message
from hub.conversations.queries import work_filter
from hub.errors import Forbidden, Invalid, NotFound
from hub.events.visibility import AgentScope

# A search shorter than this matches nearly everyone: listing customers is for supervisors.
MIN_QUERY_CHARS = 2


def check_read(scope: AgentScope, conv: Conversation) -> Conversation:
    if not scope.can_see_conversation(conv.team_id, conv.assignee_id):
        raise Forbidden("this conversation belongs to a team you are not in", reason="conversation_forbidden")
    return conv


def check_note(scope: AgentScope, conv: Conversation) -> Conversation:
    """Internal notes: wherever the caller may read."""
    return check_read(scope, conv)


def check_act(scope: AgentScope, conv: Conversation) -> Conversation:
    """Replying and changing the status: only on the caller's own work or work they may take."""
    check_read(scope, conv)
    if not scope.can_act(conv.team_id, conv.assignee_id):
        raise Forbidden("this conversation is another agent's or another team's work: add an internal note, "
                        "or ask a supervisor to assign it to you", reason="conversation_not_yours")
    return conv


def check_assign(scope: AgentScope, conv: Conversation, *, to: int | None, to_team: int | None) -> Conversation:
    check_read(scope, conv)
    if not scope.can_assign(conv.team_id, conv.assignee_id, to=to, to_team=to_team):
        raise Forbidden("agents may only take an unassigned conversation of their teams or the shared inbox, "
                        "or hand back their own", reason="assign_not_allowed")
    return conv


def check_offer(scope: AgentScope, conv: Conversation) -> Conversation:
    """Accepting or declining an offer: a conversation the caller may not read does not exist for
    them (404), whatever is offered to whom."""
    if not scope.can_see_conversation(conv.team_id, conv.assignee_id):
        raise NotFound(f"conversation {conv.id} does not exist", reason="conversation_not_found")
    return conv


def check_contact_changes(scope: AgentScope, fields: Collection[str]) -> None:
    """Who may read a contact may change its name and language; the tier, which raises routing
    priority, is for supervisors."""
    if "tier" in fields and not scope.sees_everything:
        raise Forbidden("only supervisors change a customer's tier")


def contact_search_text(scope: AgentScope, q: str | None) -> str | None:
    """The text to search contacts for, or None to list them all (supervisors only). LIKE's
    wildcards are not wildcards here: `%` finds a literal percent sign."""
    text = (q or "").strip()
    if not text and scope.can_list_contacts:
        return None
    if len(text) < MIN_QUERY_CHARS:
        raise Invalid(f"search for a customer with at least {MIN_QUERY_CHARS} characters "
                      "(listing every customer is for supervisors)")
    return text


def contact_within(scope: AgentScope) -> Any:
    """A filter on conversations for contact reads (search, timeline), or None for no filter: in
    `team` mode an agent sees a customer only through the conversations of their scope of work."""
    return work_filter(scope) if scope.isolated else None


def check_contact(session: Session, scope: AgentScope, contact_id: int) -> Contact:
    contact = get_contact(session, contact_id)
    within = contact_within(scope)
    if within is not None and not session.execute(select(has_conversation_within(contact_id, within))).scalar():
        raise Forbidden("this customer has no conversation in your teams")
    return contact


def readable_contacts(scope: AgentScope) -> Any:
    """SQL on `Contact`: those the caller may read (as `check_contact` decides), or None for all."""
    within = contact_within(scope)
    return None if within is None else has_conversation_within(col(Contact.id), within)


def check_match(session: Session, scope: AgentScope, contact_id: int, other_id: int) -> None:
    """Deciding about a suggested match (merging, dismissing): whoever may read both customers."""
    check_contact(session, scope, contact_id)
    check_contact(session, scope, other_id)


def check_attachment(session: Session, scope: AgentScope, attachment_id: int) -> StoredAttachment:
    """A file the caller may download: one carried by a message of a conversation they may read,
    or their own upload not sent yet. Anything else does not exist for them (404, as a forged id)."""
    row = get_attachment(session, attachment_id)
    if row.message_id is None:
        if row.uploaded_by == scope.agent_id:
            return row
    else:
        message = session.get(Message, row.message_id)
        conv = session.get(Conversation, message.conversation_id) if message is not None else None
        if conv is not None and scope.can_see_conversation(conv.team_id, conv.assignee_id):
            return row
    raise NotFound(f"attachment {attachment_id} does not exist")
