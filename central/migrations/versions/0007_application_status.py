"""Application statuses pushed down to kiosks (issue 6)

Revision ID: c0007
Revises: c0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "c0007"
down_revision = "c0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application_status",
        sa.Column("submission_id", sa.String(64), primary_key=True),
        sa.Column("receipt_no", sa.String(32), nullable=False, index=True),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(128), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False, index=True),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("lookup_tag", sa.String(64), nullable=False),
        sa.Column("pushed_at", sa.Float(), nullable=True),
        sa.Column("command_id", sa.String(64), nullable=True),
        sa.Column("push_error", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("application_status")
