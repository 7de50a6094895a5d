"""What the port offers channels (issue 17): thread keys, channel cursors, raw payloads kept for
admins, and opt-outs per (contact, channel), which replace contacts.sms_opted_out (its data moves
to contact_opt_outs under channel "sms", reason "STOP": the keyword was only in the event).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from hub.dbtypes import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "thread_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", _text(16), nullable=False),
        sa.Column("key", _text(500), nullable=False),
        sa.Column("conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("channel", "key", name="uq_thread_keys_channel_key"),
    )
    op.create_index("ix_thread_keys_conversation", "thread_keys", ["conversation_id", "id"])
    op.create_table(
        "channel_cursors",
        sa.Column("name", _text(200), primary_key=True),
        sa.Column("value", _text(2000), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "raw_payloads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", _text(16), nullable=False),
        sa.Column("source", _text(200), nullable=False),
        sa.Column("external_id", _text(500), nullable=True),
        sa.Column("reason", _text(1000), nullable=False),
        sa.Column("content_type", _text(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_raw_payloads_created_at", "raw_payloads", ["created_at"])
    op.create_table(
        "contact_opt_outs",
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("channel", _text(16), primary_key=True),
        sa.Column("reason", _text(64), nullable=False),
        sa.Column("opted_out_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO contact_opt_outs (contact_id, channel, reason, opted_out_at) "
        "SELECT id, 'sms', 'STOP', COALESCE(sms_opted_out_at, updated_at) FROM contacts WHERE sms_opted_out"
    )
    # Plain ALTER TABLE on both databases (SQLite >= 3.35): a batch copy of contacts would drop the
    # table, which its referencing rows (identities, conversations, opt-outs) forbid.
    op.drop_column("contacts", "sms_opted_out_at")
    op.drop_column("contacts", "sms_opted_out")


def downgrade() -> None:
    op.add_column("contacts", sa.Column("sms_opted_out", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("contacts", sa.Column("sms_opted_out_at", UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE contacts SET sms_opted_out = TRUE, sms_opted_out_at = (SELECT o.opted_out_at FROM contact_opt_outs o "
        "WHERE o.contact_id = contacts.id AND o.channel = 'sms') "
        "WHERE id IN (SELECT contact_id FROM contact_opt_outs WHERE channel = 'sms')"
    )
    op.drop_table("contact_opt_outs")
    op.drop_index("ix_raw_payloads_created_at", table_name="raw_payloads")
    op.drop_table("raw_payloads")
    op.drop_table("channel_cursors")
    op.drop_index("ix_thread_keys_conversation", table_name="thread_keys")
    op.drop_table("thread_keys")
