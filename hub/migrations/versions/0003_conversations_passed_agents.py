"""Conversations remember the agents who passed on them (declined, let an offer lapse, handed
back), so routing offers them to someone else first.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.dbtypes import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("passed_agent_ids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("passed_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("passed_at")
        batch_op.drop_column("passed_agent_ids")
