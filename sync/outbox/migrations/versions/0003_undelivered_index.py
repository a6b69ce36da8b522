"""index for the high-water check (undelivered submissions, without their attachment chunks)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_undelivered", "outbox", ["state", "parent_id", "priority"])


def downgrade() -> None:
    op.drop_index("ix_outbox_undelivered", "outbox")
