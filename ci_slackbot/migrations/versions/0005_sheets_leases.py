"""A lease per spreadsheet, so that processes take turns writing the Sheets mirror.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sheets_leases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=True),
        sa.Column("held_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["initiative_id"], ["initiatives.id"], name=op.f("fk_sheets_leases_initiative_id_initiatives")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sheets_leases")),
        sa.UniqueConstraint("initiative_id", name=op.f("uq_sheets_leases_initiative_id")),
    )


def downgrade() -> None:
    op.drop_table("sheets_leases")
