"""The equity lens: which breakdown's groups are compared, and targets per group.

`indicators.equity_lens` names the breakdown whose groups' gap is pointed out (NULL: the
first breakdown); `indicators.group_targets` holds targets per group by breakdown key
(`{"zip=75216": 10}`), empty where every group shares the indicator's target.

Revision ID: 0021
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("equity_lens", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("group_targets", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.drop_column("group_targets")
        batch_op.drop_column("equity_lens")
