"""Systems changes and the data development agenda.

`systems_changes` holds the changes in systems the coalition contributed to, proposed by a
member and confirmed by backbone staff; `initiatives.notion_systems_changes_database` is where
confirmed ones are mirrored (none: not mirrored). `data_wishes` holds the indicators the
coalition wants but has no data for yet; a promoted one keeps its row, linked to the indicator.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain column changes, not a batch: on SQLite a batch may rebuild the table (drop and create),
    # which its foreign keys refuse once other rows reference it; ADD COLUMN works in place.
    op.add_column("initiatives", sa.Column("notion_systems_changes_database", sa.String(length=64), nullable=True))
    op.create_table(
        "systems_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=True),
        sa.Column("organization_ids", sa.JSON(), nullable=False),
        sa.Column("took_effect", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("source_permalink", sa.Text(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=32), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("notion_page_id", sa.String(length=64), nullable=True),
        sa.Column("notion_url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["goal_id"], ["goals.id"], name=op.f("fk_systems_changes_goal_id_goals")),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_systems_changes_initiative_id_initiatives")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems_changes")),
    )
    op.create_index(op.f("ix_systems_changes_initiative_id"), "systems_changes", ["initiative_id"], unique=False)
    op.create_index(op.f("ix_systems_changes_confirmed_at"), "systems_changes", ["confirmed_at"], unique=False)
    op.create_table(
        "data_wishes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("developer_id", sa.Integer(), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("promoted_indicator_id", sa.Integer(), nullable=True),
        sa.Column("promoted_by", sa.String(length=32), nullable=True),
        sa.Column("promoted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["developer_id"], ["organizations.id"], name=op.f("fk_data_wishes_developer_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_data_wishes_initiative_id_initiatives")
        ),
        sa.ForeignKeyConstraint(
            ["promoted_indicator_id"],
            ["indicators.id"],
            name=op.f("fk_data_wishes_promoted_indicator_id_indicators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_wishes")),
    )
    op.create_index(op.f("ix_data_wishes_initiative_id"), "data_wishes", ["initiative_id"], unique=False)


def downgrade() -> None:
    # Plain drops too (SQLite 3.35+ drops a column in place), for the reason given in upgrade().
    op.drop_index(op.f("ix_data_wishes_initiative_id"), table_name="data_wishes")
    op.drop_table("data_wishes")
    op.drop_index(op.f("ix_systems_changes_confirmed_at"), table_name="systems_changes")
    op.drop_index(op.f("ix_systems_changes_initiative_id"), table_name="systems_changes")
    op.drop_table("systems_changes")
    op.drop_column("initiatives", "notion_systems_changes_database")
