"""Community voice: stories told by residents, parents, frontline staff and partners.

`community_stories` keeps each story with the teller's role, their name only when they
asked to be named, and whether they agreed to share it; `initiatives.notion_community_voice_database`
names the Notion database that stories shared with consent are mirrored to (none: no mirror).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain column changes, not a batch: on SQLite a batch may rebuild the table (drop and create),
    # which its foreign keys refuse once other rows reference it; ADD COLUMN works in place.
    op.add_column("initiatives", sa.Column("notion_community_voice_database", sa.String(length=64), nullable=True))
    op.create_table(
        "community_stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("teller_role", sa.String(length=32), nullable=False),
        sa.Column("teller_name", sa.String(length=200), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=True),
        sa.Column("goal_id", sa.Integer(), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("notion_page_id", sa.String(length=64), nullable=True),
        sa.Column("notion_url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["goal_id"], ["goals.id"], name=op.f("fk_community_stories_goal_id_goals")),
        sa.ForeignKeyConstraint(
            ["indicator_id"], ["indicators.id"], name=op.f("fk_community_stories_indicator_id_indicators")
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_community_stories_initiative_id_initiatives")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_stories")),
    )
    op.create_index(op.f("ix_community_stories_indicator_id"), "community_stories", ["indicator_id"], unique=False)
    op.create_index(op.f("ix_community_stories_initiative_id"), "community_stories", ["initiative_id"], unique=False)
    op.create_index(op.f("ix_community_stories_recorded_at"), "community_stories", ["recorded_at"], unique=False)


def downgrade() -> None:
    # Plain drops too (SQLite 3.35+ drops a column in place), for the reason given in upgrade().
    op.drop_index(op.f("ix_community_stories_recorded_at"), table_name="community_stories")
    op.drop_index(op.f("ix_community_stories_initiative_id"), table_name="community_stories")
    op.drop_index(op.f("ix_community_stories_indicator_id"), table_name="community_stories")
    op.drop_table("community_stories")
    op.drop_column("initiatives", "notion_community_voice_database")
