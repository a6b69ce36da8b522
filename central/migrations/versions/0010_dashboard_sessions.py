"""Dashboard sessions kept on the server, revocable (issue 13 item 9)

Revision ID: c0010
Revises: c0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "c0010"
down_revision = "c0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, index=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
