"""Why an outbox row was parked, and when the backbone team was told.

`outbox.cause` keys the reason a row was parked (rows parked for one reason share it), so
that App Home lists parked rows per cause with a Retry button. `parked_notices` holds, per
initiative, service and cause, when the backbone team was last told in Slack: once per
cause, not once per row.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain column changes, not a batch: on SQLite a batch may rebuild the table (drop and create),
    # which its foreign keys refuse once other rows reference it; ADD COLUMN works in place.
    op.add_column("outbox", sa.Column("cause", sa.String(length=200), nullable=True))
    op.create_table(
        "parked_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column("told_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_parked_notices_initiative_id_initiatives")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_notices")),
        sa.UniqueConstraint("initiative_id", "service", "cause", name=op.f("uq_parked_notices_initiative_id")),
    )


def downgrade() -> None:
    # Plain drops too (SQLite 3.35+ drops a column in place), for the reason given in upgrade().
    op.drop_table("parked_notices")
    op.drop_column("outbox", "cause")
