"""When an organization's user group was last read from Slack and applied.

Two syncs of one group can overlap (the hourly run beside the one at once after a set-up change,
in two processes): each reads the members from Slack, outside any transaction, then applies them.
Whichever commits last won, so a read taken before a member joined could be applied after the read
that saw them join, and take them out again until the next run. The time of the read applied last
lets an older read find that it came too late.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("organizations", sa.Column("usergroup_read_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("organizations", "usergroup_read_at")
