"""`value_stories`: the story behind a reported number, who told it, and the Turn-the-Curve notes.

The digest, the meeting-prep page and App Home show the stories partners tell with their
numbers, and by whom; the optional Turn-the-Curve fields (the story behind the curve,
partners with a role to play, what works, next action) are kept beside each story.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "value_stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("value_id", sa.Integer(), nullable=False),
        sa.Column("story", sa.Text(), nullable=False),
        sa.Column("curve_story", sa.Text(), nullable=False),
        sa.Column("partners", sa.Text(), nullable=False),
        sa.Column("what_works", sa.Text(), nullable=False),
        sa.Column("next_action", sa.Text(), nullable=False),
        sa.Column("told_by", sa.String(length=32), nullable=False),
        sa.Column("told_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_value_stories_initiative_id_initiatives")
        ),
        sa.ForeignKeyConstraint(
            ["value_id"], ["indicator_values.id"], name=op.f("fk_value_stories_value_id_indicator_values")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_value_stories")),
    )
    op.create_index(op.f("ix_value_stories_initiative_id"), "value_stories", ["initiative_id"], unique=False)
    op.create_index(op.f("ix_value_stories_value_id"), "value_stories", ["value_id"], unique=False)
    op.create_index(op.f("ix_value_stories_told_at"), "value_stories", ["told_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_value_stories_told_at"), table_name="value_stories")
    op.drop_index(op.f("ix_value_stories_value_id"), table_name="value_stories")
    op.drop_index(op.f("ix_value_stories_initiative_id"), table_name="value_stories")
    op.drop_table("value_stories")
