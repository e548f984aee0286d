"""Schema changes for action items and activities (issue 5).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nothing to change: the action_items and activities tables of 0001 hold everything
    # issue 5 needs (the Notion page id included). The revision stays so that 0004 follows it.
    pass


def downgrade() -> None:
    pass
