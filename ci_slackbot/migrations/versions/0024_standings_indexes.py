"""Indexes for where indicators stand, so that `/ci indicators` and the digest read recent periods only.

`standings` asks, per indicator, for the latest periods with whole-population values (or with
breakdown values, or with values for the equity lens's groups), and for when a value was last
recorded. Led by (indicator, breakdown, period), the first is a walk back from the newest entry
that stops after a few periods, and whether an indicator has breakdown values at all is one
probe. (indicator, organization, period) gives each reporter's latest period for `reporting_status`
in one probe. The first carries the columns those reads use (organization, withdrawn, value, numerator,
denominator), so that deciding which periods make a figure (a rate needs every partner's
denominator) reads the index alone, not the table. (indicator, recorded at) gives the last recorded value in one probe. Without them each
read walked the indicator's whole history, a cost that grew with every month reported.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_indicator_values_breakdown_period",
        "indicator_values",
        # The rest makes the reads of whole-population values answerable from the index alone.
        [
            "indicator_id",
            "breakdown_key",
            "period",
            "organization_id",
            "withdrawn",
            "value",
            "numerator",
            "denominator",
        ],
    )
    op.create_index("ix_indicator_values_recorded", "indicator_values", ["indicator_id", "recorded_at"])
    op.create_index(
        "ix_indicator_values_reporter", "indicator_values", ["indicator_id", "organization_id", "period", "withdrawn"]
    )
    # (indicator, period) leads the unique key's index too, so this one only cost writes.
    op.drop_index("ix_indicator_values_latest", table_name="indicator_values")


def downgrade() -> None:
    op.create_index("ix_indicator_values_latest", "indicator_values", ["indicator_id", "period"])
    op.drop_index("ix_indicator_values_reporter", table_name="indicator_values")
    op.drop_index("ix_indicator_values_recorded", table_name="indicator_values")
    op.drop_index("ix_indicator_values_breakdown_period", table_name="indicator_values")
