"""Channel cursors: how far a channel has read a source (an IMAP mailbox's UIDVALIDITY and last
UID), stored in the same transaction as the messages the read covered (`InboundMessage.cursor`),
so a crash between the two can neither skip nor refetch a message unnoticed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from hub.clock import utcnow
from hub.db import table_of
from hub.dbtypes import UTCDateTime
from hub.ports import Cursor


class ChannelCursor(SQLModel, table=True):
    __tablename__ = "channel_cursors"

    name: str = Field(max_length=200, primary_key=True)
    value: str = Field(max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


_TABLE = table_of(ChannelCursor)


def do_store_cursor(session: Session, cursor: Cursor) -> None:
    """Insert or overwrite (the last write in commit order wins: a channel stores its cursors in
    the order it read)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    stmt = dialect.insert(_TABLE).values(name=cursor.name, value=cursor.value, updated_at=now)
    session.execute(stmt.on_conflict_do_update(index_elements=["name"],
                                               set_={"value": cursor.value, "updated_at": now}))


def get_cursor(session: Session, name: str) -> str | None:
    row = session.get(ChannelCursor, name)
    return None if row is None else row.value
