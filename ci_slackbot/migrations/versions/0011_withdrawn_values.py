"""Values taken back by their reporter.

`indicator_values.withdrawn` marks a value its reporter undid: the row stays, with its
revisions and its row in the Sheet, and counts nowhere. `value_revisions.withdrawn` keeps
that state in the history, so that undoing a later report knows whether to restore the
earlier value or to withdraw it.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("indicator_values", "value_revisions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("withdrawn", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    for table in ("value_revisions", "indicator_values"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("withdrawn")
