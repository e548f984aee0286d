"""No schema change: this revision deliberately changes nothing.

It exists only to keep the revision chain that deployed databases recorded:
their `alembic_version` may name it, and 0005 names it as the revision it follows.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
