"""When each organization was first asked to report an indicator.

`indicator_reporters.since` bounds the missed-reports streak that `/ci status` shows:
periods before the organization was asked are not missed. Rows that exist when this runs
get no value — when they were asked is not known — and keep counting from the baseline.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("indicator_reporters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("since", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("indicator_reporters", schema=None) as batch_op:
        batch_op.drop_column("since")
