"""One Notion pace for every process, and a claim count on outbox rows.

`service_paces` holds, per outside service, the next free request slot: every process
on the database takes its slots there (one UPDATE … RETURNING), so that together they
keep to Notion's 3 requests a second instead of each keeping to it alone.

`outbox.claims` counts the claims of a row, and nothing resets it: a deliverer may skip
its look-up by key on a row's very first claim, when no earlier attempt can have
reached the service. Rows not yet delivered when this runs may have been claimed already,
uncounted: they start at 1, so they are looked up.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_paces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("next_slot", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_paces")),
        sa.UniqueConstraint("service", name=op.f("uq_service_paces_service")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims", sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE outbox SET claims = 1 WHERE status <> 'done'")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claims")
    op.drop_table("service_paces")
