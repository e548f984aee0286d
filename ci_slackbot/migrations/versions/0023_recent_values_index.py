"""An index on an initiative's values by period start: who reported the periods due reads the last few only.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_indicator_values_recent", "indicator_values", ["initiative_id", "period_start"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_indicator_values_recent", table_name="indicator_values")
