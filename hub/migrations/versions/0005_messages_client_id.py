"""Agents' replies and notes carry the console's client id, unique per author: a retried send
finds the first copy instead of storing (and sending) the message twice.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.create_index("uq_messages_author_client", ["author_agent_id", "client_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("uq_messages_author_client")
        batch_op.drop_column("client_id")
