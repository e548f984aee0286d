"""Drop `queued_commands`: a `/ci` command is answered in its ack, never queued.

The table held commands acked empty and carried out after the ack. Answering in the ack gives
the partner her answer sooner (ARCHITECTURE.md, "A command's answer is its ack"), so that
mode is gone and nothing writes or reads the table. The downgrade makes it again, empty.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_queued_commands_open", table_name="queued_commands")
    op.drop_table("queued_commands")


def downgrade() -> None:
    op.create_table(
        "queued_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_commands")),
        sa.UniqueConstraint("key", name=op.f("uq_queued_commands_key")),
    )
    op.create_index("ix_queued_commands_open", "queued_commands", ["answered_at", "received_at"], unique=False)
