"""Partner workspaces an initiative names besides its own, and the Slack user group an organization follows.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_partner_workspaces_initiative_id_initiatives")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_workspaces")),
        sa.UniqueConstraint("team_id", name=op.f("uq_partner_workspaces_team_id")),
    )
    op.create_index(op.f("ix_partner_workspaces_initiative_id"), "partner_workspaces", ["initiative_id"], unique=False)
    op.add_column("organizations", sa.Column("usergroup", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("organizations", "usergroup")
    op.drop_index(op.f("ix_partner_workspaces_initiative_id"), table_name="partner_workspaces")
    op.drop_table("partner_workspaces")
