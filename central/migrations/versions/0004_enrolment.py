"""enrolment tokens and device keys

Revision ID: c0004
Revises: c0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrolment_tokens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False, unique=True),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
    )
    op.create_table(
        "device_keys",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("enrolled_at", sa.Float(), nullable=False),
        sa.Column("token_id", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("device_keys")
    op.drop_table("enrolment_tokens")
