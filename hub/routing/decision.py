"""What routing decided for a conversation: the events to write and the agents it touched.

The router changes the conversation entity it is given (team, priority, deadlines, assignee or
offer) and returns the rest as a `Decision`, which the caller writes: at once for a conversation
that exists (`write`), or together with a first conversation's own rows in one statement (hub.ingest,
which routes a new conversation before writing it). Nothing is held back in the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from hub.events import log
from hub.events.types import TypedEvent
from hub.plain_sql import PlainSql

_TOUCH_AGENT = "UPDATE agents SET last_assigned_at = ? WHERE id = ?"


@dataclass
class Decision:
    # catalogued events (hub.events.types), in the order consoles must see them
    events: list[TypedEvent] = field(default_factory=list)
    assignee_id: int | None = None  # the agent it was given or offered to, if any
    offer: bool = False
    # agent id -> their new `last_assigned_at`, for agents not loaded in the session (a loaded one's
    # entity is changed instead, and flushed with it)
    touched: dict[int, datetime] = field(default_factory=dict)

    def touch_parts(self, sql: PlainSql) -> list[tuple[str, list[Any]]]:
        """The agents' touches as statements for `PlainSql.together`."""
        return [(_TOUCH_AGENT, [sql.when(at), agent_id]) for agent_id, at in self.touched.items()]


def write(session: Session, decision: Decision) -> None:
    """Write a decision about a conversation that exists: its events, then the agents' touches."""
    if decision.events:
        log.append_all(session, decision.events)
    sql = PlainSql.of(session)
    for statement, params in decision.touch_parts(sql):
        sql.execute(statement, params)
