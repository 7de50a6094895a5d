"""Customers and the addresses they reach us from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import UTCDateTime


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=32, index=True)
    tier: str = Field(default="standard", max_length=32)
    language: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ContactIdentity(SQLModel, table=True):
    """One way to reach a contact: (kind, address) is unique across all contacts.

    kind is "email", "phone" (E.164) or "ref:<source>" for an integrator's own customer id.
    """

    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("kind", "address", name="uq_identity_kind_address"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    kind: str = Field(max_length=64)
    address: str = Field(max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ContactOptOut(SQLModel, table=True):
    """A customer who asked for no more messages on one channel (an SMS STOP, an unsubscribe):
    replies there are refused until they opt back in, which deletes the row."""

    __tablename__ = "contact_opt_outs"

    contact_id: int = Field(foreign_key="contacts.id", primary_key=True)
    channel: str = Field(max_length=16, primary_key=True)
    reason: str = Field(default="", max_length=64)  # the channel's word for it: "STOP", "twilio:21610"
    opted_out_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
