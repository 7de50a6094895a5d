"""An agent writing first: a new conversation with a customer on a channel, opened by its first
reply (an email to a contact who never wrote on that channel, or about something new)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from hub.agents.actions import team_ids_of
from hub.attachments.models import StoredAttachment
from hub.clock import utcnow
from hub.contacts.addresses import addresses_of
from hub.contacts.opt_outs import check_may_message
from hub.conversations.actions import do_assign
from hub.conversations.models import Conversation, Message
from hub.conversations.replies import do_reply
from hub.conversations.schemas import conversation_dict
from hub.errors import Invalid
from hub.events import log
from hub.events.types import ConversationCreated


def check_start_conversation(session: Session, *, contact_id: int, channel: str, address_kind: str | None,
                             source: str, subject: str | None, agent_id: int, text: str, html: str | None = None,
                             cc: Sequence[str] = (),
                             attachments: Sequence[StoredAttachment] = ()) -> tuple[Conversation, Message]:
    """`do_start_conversation` when the customer has an address of `address_kind` (the channel's)."""
    if address_kind is not None and not addresses_of(session, [contact_id], address_kind):
        raise Invalid(f"this customer has no {address_kind} address to write to")
    return do_start_conversation(session, contact_id=contact_id, channel=channel, source=source, subject=subject,
                                 agent_id=agent_id, text=text, html=html, cc=cc, attachments=attachments)


def do_start_conversation(session: Session, *, contact_id: int, channel: str, source: str, subject: str | None,
                          agent_id: int, text: str, html: str | None = None, cc: Sequence[str] = (),
                          attachments: Sequence[StoredAttachment] = ()) -> tuple[Conversation, Message]:
    """Opens the conversation assigned to `agent_id` (their own initiative: no routing, no
    capacity check), in their team when they have one (so `team` visibility keeps it there),
    and sends `text` as its first reply."""
    if not text.strip():
        raise Invalid("a message needs text", reason="empty", field="text")
    check_may_message(session, contact_id, channel)
    now = utcnow()
    conv = Conversation(contact_id=contact_id, channel=channel, source=source, subject=subject or None,
                        status="open", created_at=now, updated_at=now)
    session.add(conv)
    session.flush()
    assert conv.id is not None
    log.append(session, ConversationCreated(conversation_id=conv.id, contact_id=contact_id,
                                            conversation=conversation_dict(conv)))
    teams = team_ids_of(session, agent_id)
    do_assign(session, conv, assignee_id=agent_id, team_id=teams[0] if len(teams) == 1 else None,
              actor_agent_id=agent_id, reason="started")
    message = do_reply(session, conv, agent_id=agent_id, text=text, html=html, attachments=attachments, cc=cc)
    return conv, message
