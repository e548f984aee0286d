"""How partners' values combine, and rates reported with their denominators.

`indicators.rollup` is the rule the initiative file declares (sum, rate, owner, none; NULL for
the default of the unit) and `indicators.rollup_owner` the organization whose value counts
under `owner`. `numerator` and `denominator` on `indicator_values` (and kept in
`value_revisions`) carry a rate reported as `412 of 700`; values reported before have none.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain column changes, not a batch: on SQLite a batch may rebuild the table (drop and create),
    # which its foreign keys refuse once other rows reference it; ADD COLUMN works in place.
    op.add_column("indicators", sa.Column("rollup", sa.String(16), nullable=True))
    op.add_column("indicators", sa.Column("rollup_owner", sa.String(64), nullable=True))
    for table in ("indicator_values", "value_revisions"):
        op.add_column(table, sa.Column("numerator", sa.Float(), nullable=True))
        op.add_column(table, sa.Column("denominator", sa.Float(), nullable=True))


def downgrade() -> None:
    # Plain drops too (SQLite 3.35+ drops a column in place), for the reason given in upgrade().
    for table in ("value_revisions", "indicator_values"):
        op.drop_column(table, "denominator")
        op.drop_column(table, "numerator")
    op.drop_column("indicators", "rollup_owner")
    op.drop_column("indicators", "rollup")
