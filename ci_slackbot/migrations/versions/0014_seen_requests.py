"""`seen_requests`: the signed requests accepted within Slack's 5-minute window, so that a replay is ignored.

A request's signature covers its timestamp and body, so the signature alone names it; the
timestamp is kept for purging rows once the window has passed.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_requests",
        sa.Column("signature", sa.String(length=80), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_seen_requests")),
    )
    op.create_index(op.f("ix_seen_requests_timestamp"), "seen_requests", ["timestamp"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_seen_requests_timestamp"), table_name="seen_requests")
    op.drop_table("seen_requests")
