"""The INSERT every plain-SQL write of a message uses (ingest's paths, an agent's reply).

A message row is a dict of every column of `messages` (hub.plain_sql.new_row), and every such write
goes through this one INSERT, whose column list is the table's: a column added to the model is
written by all of them or by none.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hub.conversations.models import Message
from hub.db import table_of
from hub.plain_sql import PlainSql, insert_text

MESSAGES = table_of(Message)
MESSAGE_COLUMNS = tuple(c.name for c in MESSAGES.columns)


def insert_messages(sql: PlainSql, rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """The INSERT of these message rows (each `new_row(MESSAGES, ...)`), for `PlainSql.together`."""
    params: list[Any] = []
    for r in rows:
        params += sql.values(r)
    return _insert_messages(len(rows)), params


@lru_cache(maxsize=256)
def _insert_messages(count: int) -> str:
    return insert_text("messages", MESSAGE_COLUMNS, count)
