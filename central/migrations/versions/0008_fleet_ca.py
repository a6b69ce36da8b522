"""Fleet CA certificates and revocations (issue 9)

Revision ID: c0008
Revises: c0007
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "c0008"
down_revision = "c0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_certificates",
        sa.Column("serial", sa.String(40), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("not_before", sa.Float(), nullable=False),
        sa.Column("not_after", sa.Float(), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("public_key_sha256", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(64), nullable=True),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
    )
    op.create_table(
        "device_revocations",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("revoked_at", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("device_revocations")
    op.drop_table("device_certificates")
