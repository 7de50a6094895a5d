"""The files messages carry: what the hub knows of each, its bytes being in a `hub.blobs` store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import UTCDateTime


class StoredAttachment(SQLModel, table=True):
    """A file kept by the hub (an email's part, a widget upload, an agent's upload).

    `message_id` is the message that carries it, set in the transaction that stores the message
    (inbound: `Hub` after ingest; an agent's reply: `do_reply`). Until then it belongs to nobody
    but its uploader (`uploaded_by`, an agent; None for what a channel stored): whoever may read
    that message's conversation may download it (hub.access.check_attachment). `blob_key` names
    the bytes in the store; several rows may share one (the store keys by content).
    `content_type` is what the bytes are (hub.attachments.sniff), never what was declared.
    """

    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    blob_key: str = Field(max_length=128)
    content_type: str = Field(max_length=255)
    filename: str = Field(max_length=255)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    cid: str | None = Field(default=None, max_length=255)  # an email part's Content-ID, no brackets
    message_id: int | None = Field(default=None, foreign_key="messages.id", index=True)
    uploaded_by: int | None = Field(default=None, foreign_key="agents.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
