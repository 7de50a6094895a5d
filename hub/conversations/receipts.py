"""Read receipts (issue 16: "the agent's name and a read receipt shown"), both ways.

- An agent opening a conversation marks it read for themselves (hub.conversations.inbox, no
  event). When that read is the first by any agent to cover the customer's latest message,
  `receipt.agent_read` is appended too: the customer's widget shows "Seen".
- A customer's channel reports what the customer saw (web chat: the agent's replies shown in an
  open widget): `receipt.customer_read`, only when it covers a reply not reported before. The
  console marks those replies "Seen".
"""

from __future__ import annotations

from sqlalchemy import Text, cast, func, select
from sqlmodel import Session, col

from hub.conversations.models import ConversationRead, Message
from hub.db import table_of
from hub.events import log
from hub.events.models import Event
from hub.events.types import AgentRead, CustomerRead
from hub.jsontext import loads


def unseen_customer_message(session: Session, conversation_id: int) -> int | None:
    """The customer's latest message in the conversation if no agent has read it yet, else None.
    Asked before marking a read (`inbox.do_mark_read`), and asked again in the write-locked
    transaction that marks it and appends `receipt.agent_read`, or two agents reading at once
    would both tell the customer."""
    latest = session.execute(
        select(func.max(col(Message.id)))
        .where(col(Message.conversation_id) == conversation_id, col(Message.direction) == "in")
    ).scalar_one_or_none()
    if latest is None:
        return None
    read = session.execute(
        select(func.max(col(ConversationRead.last_read_message_id)))
        .where(col(ConversationRead.conversation_id) == conversation_id)
    ).scalar_one_or_none()
    return int(latest) if read is None or int(read) < int(latest) else None


def do_agent_read(session: Session, conversation_id: int, agent_id: int, upto_message_id: int) -> None:
    """The first agent read the customer's messages up to `upto_message_id`."""
    log.append(session, AgentRead(conversation_id=conversation_id, actor_agent_id=agent_id,
                                  upto_message_id=upto_message_id))


def customer_read_upto(session: Session, conversation_id: int) -> int:
    """How far the customer has reported reading the agents' replies (0: nothing reported)."""
    e = table_of(Event).c
    payload = session.execute(
        select(cast(e.payload, Text)).where(e.conversation_id == conversation_id, e.type == CustomerRead.TYPE)
        .order_by(e.id.desc()).limit(1)
    ).scalar_one_or_none()
    return int(loads(payload).get("upto_message_id", 0)) if payload else 0


def do_customer_read(session: Session, conversation_id: int, upto_message_id: int) -> bool:
    """The customer saw the agents' replies up to `upto_message_id` (a message of that conversation;
    anything else is ignored): recorded when it covers a reply not reported before. Whether it was."""
    reply = session.execute(
        select(func.max(col(Message.id))).where(col(Message.conversation_id) == conversation_id,
                                                col(Message.direction) == "out", col(Message.id) <= upto_message_id)
    ).scalar_one_or_none()
    if reply is None or int(reply) <= customer_read_upto(session, conversation_id):
        return False
    log.append(session, CustomerRead(conversation_id=conversation_id, upto_message_id=int(reply)))
    return True
