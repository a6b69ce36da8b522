"""outbox, counters, sync_state

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("acked_at", sa.Float(), nullable=True),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("receipt_no", sa.String(32), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_outbox_state_priority_seq", "outbox", ["state", "priority", "seq"])
    op.create_index("ix_outbox_receipt_no", "outbox", ["receipt_no"])
    op.create_table(
        "counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    op.create_table(
        "sync_state",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_table("counters")
    op.drop_index("ix_outbox_receipt_no", "outbox")
    op.drop_index("ix_outbox_state_priority_seq", "outbox")
    op.drop_table("outbox")
