"""The equity lens: which breakdown's groups are compared, and targets per group.

`indicators.equity_lens` names the breakdown whose groups' gap is pointed out (NULL: the
first breakdown); `indicators.group_targets` holds targets per group by breakdown key
(`{"zip=75216": 10}`), empty where every group shares the indicator's target.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain column changes, not a batch: on SQLite a batch may rebuild the table (drop and create),
    # which its foreign keys refuse once other rows reference it; ADD COLUMN works in place.
    op.add_column("indicators", sa.Column("equity_lens", sa.String(100), nullable=True))
    op.add_column("indicators", sa.Column("group_targets", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    # Plain drops too (SQLite 3.35+ drops a column in place), for the reason given in upgrade().
    op.drop_column("indicators", "group_targets")
    op.drop_column("indicators", "equity_lens")
