"""Schema changes for the digest, App Home and the scheduler (issue 6): none needed.

The scheduler's exactly-once claims use `job_runs` (unique initiative, job,
slot) from 0001; the digest's chart and message are ordinary outbox rows; App
Home reads existing tables. This revision is kept so that the chain stays whole.

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
