"""No schema change: this revision deliberately changes nothing.

It exists only to keep the revision chain that deployed databases recorded:
their `alembic_version` may name it, and 0004 names it as the revision it follows.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
