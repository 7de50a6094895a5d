"""A status change by conversation id, as an agent asks for it: pending, snoozed and resolved
without loading the conversation's entity.

Building the ORM entity for a conversation costs several times what reading its row does
(bench/RESULTS.md, "Issue 17, session 11"), and a status change needs only the row: the caller's
access check, the new values and the event. Opening (which may route) and a conversation this
session already holds (with changes it may not have written yet) still take the entity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from hub.conversations.actions import RouteHook, do_set_status, get_conversation, status_values, write_status
from hub.conversations.models import Conversation
from hub.conversations.schemas import conversation_dict
from hub.db import table_of
from hub.errors import NotFound
from hub.plain_sql import PlainSql, read_row

CONVERSATIONS = table_of(Conversation)
_READ = "SELECT " + ", ".join(c.name for c in CONVERSATIONS.columns) + " FROM conversations WHERE id = ?"


def change_status(session: Session, conversation_id: int, status: str, *, agent_id: int | None,
               may_act: Callable[[Any], object], snoozed_until: datetime | None = None,
               route: RouteHook | None = None) -> dict[str, Any]:
    """Change the status (`hub.conversations.actions.do_set_status`) after `may_act(conversation)`
    raised nothing; the conversation as it is now (NotFound when there is none)."""
    if status == "open" or session.identity_map.get(identity_key(Conversation, conversation_id)) is not None:
        conv = get_conversation(session, conversation_id)
        may_act(conv)
        do_set_status(session, conv, status, agent_id=agent_id, snoozed_until=snoozed_until, route=route)
        return conversation_dict(conv)
    sql = PlainSql.of(session)
    sql.execute(_READ, (conversation_id,))
    found = sql.fetchone()
    if found is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    row = SimpleNamespace(**read_row(CONVERSATIONS, found))
    may_act(row)
    values = status_values(status, snoozed_until)
    previous = row.status
    if previous == status and status != "snoozed":
        return conversation_dict(row)
    for key, value in values.items():
        setattr(row, key, value)
    write_status(session, row, previous, values, agent_id)
    return conversation_dict(row)
