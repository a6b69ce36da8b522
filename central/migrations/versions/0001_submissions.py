"""submissions

Revision ID: c0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("receipt_no", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("fields_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_submissions_device_id", "submissions", ["device_id"])
    op.create_index("ix_submissions_service_code", "submissions", ["service_code"])
    op.create_index("ix_submissions_receipt_no", "submissions", ["receipt_no"])
    op.create_index("ix_submissions_received_at", "submissions", ["received_at"])


def downgrade() -> None:
    op.drop_table("submissions")
