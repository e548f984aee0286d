"""An index for a value's series in period order, so that `/ci update` finds the value before.

`record_value` asks for the latest value of the same indicator, organization and breakdown
before the period reported. The indexes there were led by (indicator, period), so the
database read every value of the indicator, of every breakdown and organization, and
sorted them: a cost that grew with the indicator's history. With (indicator, organization,
breakdown, period start) it reads one entry.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_indicator_values_series",
        "indicator_values",
        ["indicator_id", "organization_id", "breakdown_key", "period_start"],
    )


def downgrade() -> None:
    op.drop_index("ix_indicator_values_series", table_name="indicator_values")
