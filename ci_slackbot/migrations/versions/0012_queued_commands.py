"""Commands acked at once and answered after their work.

With CI_SLACKBOT_QUEUE_COMMANDS on, a `/ci` command is written to the command journal
before its empty ack goes back to Slack; the command runner stores it in `queued_commands`
under the journal line's key (unique: a line read twice is stored once), runs it in one
transaction that also sets `done_at` and the answer, and posts the answer through the
command's response_url. A row with no `done_at` after a crash is run again; one done but not
answered is answered again.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_index("ix_queued_commands_open", table_name="queued_commands")
    op.drop_table("queued_commands")
