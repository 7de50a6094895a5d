"""Conversations and the messages (and internal notes) in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, UniqueConstraint, false
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

from hub.clock import utcnow
from hub.dbtypes import UTCDateTime

STATUSES = ("open", "pending", "snoozed", "resolved")


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_queue", "status", "team_id", "assignee_id"),
        Index("ix_conversations_contact_channel", "contact_id", "channel", "source"),
        Index("ix_conversations_load", "assignee_id", "status", "channel"),
        # Offers: an agent's (release_agent), and all of them (the routing board's full read).
        Index("ix_conversations_offered", "offered_to_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id")
    channel: str = Field(max_length=16)  # api, sms, email, webchat, voice
    source: str = Field(max_length=200)  # entry point: API source, our SMS number, mailbox, widget
    subject: str | None = Field(default=None, max_length=500)
    status: str = Field(default="open", max_length=16)
    snoozed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    team_id: int | None = Field(default=None, foreign_key="teams.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="agents.id", index=True)
    priority: int = Field(default=0)
    # Set while the conversation waits for an agent; the queue orders by priority then this.
    waiting_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_agent_id: int | None = Field(default=None, foreign_key="agents.id")
    # Routing: when it entered its current queue (escalation counts from here), the skill a rule
    # asked for, how many escalation steps it has taken, and a pending offer to one agent.
    queued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    routing_skill: str | None = Field(default=None, max_length=64)
    escalation_level: int = Field(default=0)
    offered_to_id: int | None = Field(default=None, foreign_key="agents.id")
    offer_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Agents who passed on it (declined or let an offer lapse, or handed it back) since it last
    # had an agent, each with when (epoch seconds, by agent id as text), and the latest of those
    # times: routing leaves each of them out for a while.
    # (None is SQL NULL, not JSON null: as hub.ingest writes it, and as `IS NULL` finds it.)
    passed_agent_ids: dict[str, float] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True),
                                                                                     nullable=True))
    passed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # SLA deadlines (business hours of the team), and "ok" | "at_risk" | "breached".
    first_response_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    next_response_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    resolution_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    sla_state: str = Field(default="ok", max_length=16)
    first_response_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_message_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Message(SQLModel, table=True):
    """A message in or out, or an internal note (direction "note", never shown to the customer).

    (ingest_scope, external_id) is the natural key of inbound items: the unique constraint makes a
    provider's redelivery a no-op. Outbound messages get their own generated key. An agent's reply
    or note may carry the console's `client_id`, unique per author: a retried request (its answer
    lost in a crash) finds the first copy instead of storing and sending a second.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("ingest_scope", "external_id", name="uq_message_ingest_key"),
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_provider", "channel", "provider_id"),
        # An agent's retried send (the same client_id) finds the first copy instead of a second.
        Index("uq_messages_author_client", "author_agent_id", "client_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id")
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    channel: str = Field(max_length=16)
    direction: str = Field(max_length=8)  # in, out, note
    author_agent_id: int | None = Field(default=None, foreign_key="agents.id")
    text: str = Field(default="")
    html: str | None = Field(default=None)  # sanitized
    subject: str | None = Field(default=None, max_length=500)
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ingest_scope: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=500)
    provider_id: str | None = Field(default=None, max_length=200)
    # The console's id for an agent's reply or note (a UUID), unique per author: see the docstring.
    client_id: str | None = Field(default=None, max_length=36)
    delivery_status: str | None = Field(default=None, max_length=16)
    delivery_error: str | None = Field(default=None)
    # An inbound message that needs no answer (`InboundMessage.needs_answer` False: an automatic
    # reply, list mail, a delivery report): shown in its thread, but the customer is not waiting.
    automatic: bool = Field(default=False, sa_column=Column(
        Boolean, nullable=False, default=False, server_default=false()))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # What a channel says of the message beyond the common fields (`InboundMessage.metadata`; an
    # email's headers, folded text and original), a reply's `cc`, and why its delivery failed as a
    # stable reason (`delivery_reason`: hub.delivery.actions). Column "metadata".
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(
        "metadata", JSON, nullable=False, server_default=sql_text("'{}'")))


class ConversationRead(SQLModel, table=True):
    """How far one agent has read one conversation (the inbox's unread marker)."""

    __tablename__ = "conversation_reads"

    agent_id: int = Field(foreign_key="agents.id", primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", primary_key=True)
    last_read_message_id: int = Field(default=0)
    read_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ConversationMention(SQLModel, table=True):
    """An agent @mentioned in a note of a conversation: the inbox's "mentions" view reads this
    (the note's event payload says the same, but cannot be searched by agent)."""

    __tablename__ = "conversation_mentions"

    agent_id: int = Field(foreign_key="agents.id", primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", primary_key=True)
    last_message_id: int = Field(default=0)  # the latest note that mentions them
    mentioned_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ThreadKey(SQLModel, table=True):
    """A key a channel threads by (an email's Message-ID, a reply token), unique per channel, and
    the conversation it belongs to (hub.conversations.threads)."""

    __tablename__ = "thread_keys"
    __table_args__ = (
        UniqueConstraint("channel", "key", name="uq_thread_keys_channel_key"),
        Index("ix_thread_keys_conversation", "conversation_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    key: str = Field(max_length=500)  # hub.ports.THREAD_KEY_MAX
    conversation_id: int = Field(foreign_key="conversations.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
