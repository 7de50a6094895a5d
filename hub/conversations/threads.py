"""Thread keys: how a channel says which conversation a message continues without knowing
conversation ids (an email's In-Reply-To, a reply token in the recipient address).

Keys are unique per channel (table thread_keys). An inbound message's `own_thread_keys` and the
keys an adapter reports for what it sent (`SendResult.thread_keys`) are recorded for their
conversation; an inbound message's `thread_keys` and `weak_thread_keys` are looked up
(`find_threaded`). A key is recorded once: the first conversation to claim it keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.conversations.models import Conversation, ThreadKey
from hub.db import table_of
from hub.ports import THREAD_KEY_MAX, InboundMessage

_TABLE = table_of(ThreadKey)


def usable_keys(keys: Iterable[str]) -> list[str]:
    """Keys as stored: non-empty, at most THREAD_KEY_MAX characters (a longer one could never have
    been recorded, so it is never looked up either), each once, in the given order."""
    return list(dict.fromkeys(k for k in keys if k and len(k) <= THREAD_KEY_MAX))


def _known(session: Session, channel: str, keys: list[str]) -> dict[str, int]:
    if not keys:
        return {}
    rows = session.execute(select(col(ThreadKey.key), col(ThreadKey.conversation_id))
                           .where(col(ThreadKey.channel) == channel, col(ThreadKey.key).in_(keys)))
    return {key: conversation_id for key, conversation_id in rows}


def find_threaded(session: Session, msg: InboundMessage, contact_id: int,
                  reopen_window: timedelta) -> Conversation | None:
    """The conversation the message's keys name: the first known strong key's, whoever wrote;
    else the first known weak key's whose customer is the sender (`contact_id`). None when no key
    is known, or when it names a conversation resolved longer ago than `reopen_window` (the
    message then starts a new one: a months-old thread is not reopened)."""
    strong, weak = usable_keys(msg.thread_keys), usable_keys(msg.weak_thread_keys)
    known = _known(session, msg.channel, strong + weak)
    for key in strong + weak:
        conversation_id = known.get(key)
        if conversation_id is None:
            continue
        conv = session.get(Conversation, conversation_id)
        if conv is None or (key not in strong and conv.contact_id != contact_id):
            continue
        if conv.status == "resolved" and (conv.resolved_at is None or utcnow() - conv.resolved_at > reopen_window):
            return None
        return conv
    return None


def record_keys(session: Session, channel: str, keys: Iterable[str], conversation_id: int) -> None:
    """Record keys for a conversation; a key already recorded (for it or another) stays as it is."""
    usable = usable_keys(keys)
    if not usable:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    session.execute(
        dialect.insert(_TABLE).on_conflict_do_nothing(index_elements=["channel", "key"]),
        [{"channel": channel, "key": key, "conversation_id": conversation_id, "created_at": now} for key in usable],
    )

