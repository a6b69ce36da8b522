"""Application statuses pushed down by the central, for the residents' lookup (issue 6)

One row per receipt number (the newest status wins); ``lookup_tag`` is HMAC-SHA256(site lookup key,
normalised ID number) so the kiosk can list one person's applications without storing who they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application_status",
        sa.Column("receipt_no", sa.String(32), primary_key=True),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False, index=True),
        sa.Column("lookup_tag", sa.String(64), nullable=False, index=True),
        sa.Column("received_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("application_status")
