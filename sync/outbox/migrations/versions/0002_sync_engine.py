"""sync engine: attachment chunks' parent, telemetry queue, driver health, seen commands

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(64), nullable=True))
        batch.create_index("ix_outbox_parent_id", ["parent_id"])
    op.create_table(
        "telemetry_queue",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "driver_health",
        sa.Column("driver", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("last_success", sa.Float(), nullable=True),
        sa.Column("changed_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "seen_commands",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("seen_commands")
    op.drop_table("driver_health")
    op.drop_table("telemetry_queue")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_parent_id")
        batch.drop_column("parent_id")
