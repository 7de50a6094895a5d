"""Inbound items kept as received because they could not be parsed or ingested (DESIGN.md
contract 1: "the raw payload is kept"), for admins to list and download. Keeping one never
blocks what follows: the channel goes on with its next item."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Column, Index, LargeBinary, String, select
from sqlmodel import Field, Session, SQLModel

from hub.clock import utcnow
from hub.db import table_of
from hub.dbtypes import UTCDateTime
from hub.errors import NotFound
from hub.ports import RawPayload

# What a download may be served as: a mail client opens message/rfc822; anything else is bytes.
CONTENT_TYPES = ("message/rfc822", "application/octet-stream")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class KeptPayload(SQLModel, table=True):
    __tablename__ = "raw_payloads"
    __table_args__ = (Index("ix_raw_payloads_created_at", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    source: str = Field(max_length=200)
    external_id: str | None = Field(default=None, max_length=500)
    reason: str = Field(max_length=1000)  # why it was kept: the parser's or ingest's words
    content_type: str = Field(max_length=64)
    size: int = Field(default=0)  # as received; the stored payload may be cut to the cap
    truncated: bool = Field(default=False)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _cut(text: str, column: str) -> str:
    """A text cut to its column (a payload is kept whatever its labels hold), without NULs."""
    longest = cast(String, table_of(KeptPayload).c[column].type).length
    return text.replace("\x00", "\ufffd")[:longest]


def do_keep_raw(session: Session, raw: RawPayload, *, max_bytes: int = DEFAULT_MAX_BYTES) -> KeptPayload:
    """Store it, cut to `max_bytes` (and marked truncated) when larger. An unknown content type
    is stored as application/octet-stream."""
    row = KeptPayload(
        channel=_cut(raw.channel, "channel"), source=_cut(raw.source, "source"),
        external_id=_cut(raw.external_id, "external_id") if raw.external_id is not None else None,
        reason=_cut(raw.reason, "reason"),
        content_type=raw.content_type if raw.content_type in CONTENT_TYPES else "application/octet-stream",
        size=len(raw.payload), truncated=len(raw.payload) > max_bytes, payload=raw.payload[:max_bytes],
    )
    session.add(row)
    session.flush()
    return row


def raw_dict(row: KeptPayload) -> dict[str, Any]:
    """An admin's view of a kept payload: everything but the bytes."""
    return {"id": row.id, "channel": row.channel, "source": row.source, "external_id": row.external_id,
            "reason": row.reason, "content_type": row.content_type, "size": row.size,
            "truncated": row.truncated, "created_at": row.created_at.isoformat()}


def list_raw(session: Session, *, before_id: int | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, `limit` of them with an id below `before_id` (the previous page's last)."""
    c = table_of(KeptPayload).c
    stmt = select(*(col for col in c if col.name != "payload")).order_by(c.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(c.id < before_id)
    return [raw_dict(KeptPayload(**row._mapping, payload=b"")) for row in session.execute(stmt)]


def get_raw(session: Session, raw_id: int) -> KeptPayload:
    row = session.get(KeptPayload, raw_id)
    if row is None:
        raise NotFound(f"raw payload {raw_id} does not exist")
    return row
