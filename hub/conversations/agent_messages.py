"""An agent's reply or note, stored once per client id.

The console gives every send its own id (a UUID, `client_id`). When the hub stored a reply but its
answer was lost (a crash, a dropped connection), the console sends it again with the same id: the
second request finds the first copy (unique per author in the database) and answers it, so the
customer never gets the reply twice and the outbox gets nothing new. Without a client id every
request is a new message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlmodel import Session, col

from hub.agents.actions import get_agent
from hub.attachments.actions import check_uploads
from hub.conversations.actions import do_add_note
from hub.conversations.models import Conversation, Message
from hub.conversations.replies import do_reply, reply_context
from hub.errors import Conflict


def first_copy(session: Session, conv: Conversation, *, agent_id: int, client_id: str | None,
               direction: str) -> Message | None:
    """What this agent already sent with `client_id`, or None. A client id used for another
    conversation or another kind of message (a note against a reply) is a client bug: refused."""
    if client_id is None:
        return None
    found = session.execute(
        select(Message).where(col(Message.author_agent_id) == agent_id, col(Message.client_id) == client_id)
    ).scalars().first()
    if found is not None and (found.conversation_id != conv.id or found.direction != direction):
        raise Conflict(f"client_id {client_id} was already used for another message", reason="client_id_reused")
    return found


def check_reply(session: Session, conversation_id: int, *, may_act: Callable[[Conversation], object], agent_id: int,
                text: str, html: str | None = None, client_id: str | None = None,
                attachments: Sequence[int | str] = (), cc: Sequence[str] = ()) -> tuple[Message, bool]:
    """`do_reply`, or the first copy of a retried one: (the message, whether it is new).
    `may_act`: the caller's access check on the conversation (raises when refused), before anything
    else. `attachments`: ids or URLs of the agent's uploads, not yet sent (the first copy carries
    them). The conversation and the first copy are read in the reply's own first statement
    (`reply_context`): each statement is a round trip inside the writer's lock on PostgreSQL."""
    context = reply_context(session, conversation_id, agent_id=agent_id, client_id=client_id)
    conv = context.conversation
    may_act(conv)
    if context.first_copy_id is not None:
        found = first_copy(session, conv, agent_id=agent_id, client_id=client_id, direction="out")
        assert found is not None
        return found, False
    files = check_uploads(session, agent_id, attachments)
    return do_reply(session, conv, agent_id=agent_id, text=text, html=html, client_id=client_id,
                    attachments=files, cc=cc, context=context), True


def check_add_note(session: Session, conv: Conversation, *, agent_id: int, text: str,
                   mentions: list[int] | None = None, client_id: str | None = None) -> tuple[Message, bool]:
    """`do_add_note`, or the first copy of a retried one: (the note, whether it is new). Every agent
    mentioned must exist (404)."""
    for mentioned in mentions or ():
        get_agent(session, mentioned)
    found = first_copy(session, conv, agent_id=agent_id, client_id=client_id, direction="note")
    if found is not None:
        return found, False
    return do_add_note(session, conv, agent_id=agent_id, text=text, mentions=mentions, client_id=client_id), True
