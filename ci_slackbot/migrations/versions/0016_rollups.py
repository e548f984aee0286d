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
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rollup", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("rollup_owner", sa.String(64), nullable=True))
    for table in ("indicator_values", "value_revisions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("numerator", sa.Float(), nullable=True))
            batch_op.add_column(sa.Column("denominator", sa.Float(), nullable=True))


def downgrade() -> None:
    for table in ("value_revisions", "indicator_values"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("denominator")
            batch_op.drop_column("numerator")
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.drop_column("rollup_owner")
        batch_op.drop_column("rollup")
