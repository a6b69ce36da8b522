"""Device signatures and per-device sequence tracking (issue 9)

Revision ID: c0006
Revises: c0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_sequences",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("contiguous", sa.BigInteger(), nullable=False),
        sa.Column("ranges_json", sa.Text(), nullable=False),
        sa.Column("gap_since", sa.Float(), nullable=True, index=True),
        sa.Column("resend_at", sa.Float(), nullable=True),
        sa.Column("alarmed", sa.Boolean(), nullable=False),
        sa.Column("lost", sa.BigInteger(), nullable=False),
        sa.Column("reused", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    # The digest of what a message's signature covers: a replayed id with other content is refused.
    op.add_column("submissions", sa.Column("digest", sa.String(64), nullable=True))
    op.add_column("events", sa.Column("digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("digest")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("digest")
    op.drop_table("device_sequences")
