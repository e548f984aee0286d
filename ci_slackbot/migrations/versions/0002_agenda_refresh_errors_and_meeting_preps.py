"""The agenda cache's last failed refresh, and a table of meeting preps.

`agenda_cache.failed_at` and `last_error` keep when and why the agenda last failed to
refresh; `meeting_preps` keeps each `/ci prep`, so that the next one knows when the last one was.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agenda_cache", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))

    op.create_table(
        "meeting_preps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=True),
        sa.Column("notion_page_id", sa.String(length=64), nullable=True),
        sa.Column("notion_url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_meeting_preps_initiative_id_initiatives")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_preps")),
    )
    with op.batch_alter_table("meeting_preps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meeting_preps_initiative_id"), ["initiative_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("meeting_preps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_preps_initiative_id"))
    op.drop_table("meeting_preps")

    with op.batch_alter_table("agenda_cache", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("failed_at")
