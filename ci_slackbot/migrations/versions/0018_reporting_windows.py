"""Reporting windows and reminders in rhythm.

`initiatives.report_due_after`, `nudges` and `holidays` keep the file's `reporting:` and
`holidays:` as written; `indicators.due_after_days` an indicator's own lag;
`organizations.backup_reporter` the person asked when the members have not reported by the
due date. `nudges_sent` makes each reminder of a window go once per person, indicator,
period and kind. Existing initiatives get the defaults (empty: the code's defaults apply).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain column changes, not a batch: on SQLite a batch may rebuild the table (drop and create),
    # which its foreign keys refuse once other rows reference it; ADD COLUMN works in place.
    op.add_column(
        "initiatives", sa.Column("report_due_after", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
    )
    op.add_column("initiatives", sa.Column("nudges", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
    op.add_column("initiatives", sa.Column("holidays", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.add_column("indicators", sa.Column("due_after_days", sa.Integer(), nullable=True))
    op.add_column("organizations", sa.Column("backup_reporter", sa.String(length=32), nullable=True))
    op.create_table(
        "nudges_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"], ["indicators.id"], name=op.f("fk_nudges_sent_indicator_id_indicators")
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_nudges_sent_initiative_id_initiatives")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nudges_sent")),
        sa.UniqueConstraint(
            "initiative_id",
            "slack_user_id",
            "indicator_id",
            "period",
            "kind",
            name=op.f("uq_nudges_sent_initiative_id"),
        ),
    )
    op.create_index(op.f("ix_nudges_sent_initiative_id"), "nudges_sent", ["initiative_id"], unique=False)


def downgrade() -> None:
    # Plain drops too (SQLite 3.35+ drops a column in place), for the reason given in upgrade().
    op.drop_index(op.f("ix_nudges_sent_initiative_id"), table_name="nudges_sent")
    op.drop_table("nudges_sent")
    op.drop_column("organizations", "backup_reporter")
    op.drop_column("indicators", "due_after_days")
    op.drop_column("initiatives", "holidays")
    op.drop_column("initiatives", "nudges")
    op.drop_column("initiatives", "report_due_after")
