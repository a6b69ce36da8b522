"""64-bit sequence numbers, sizes and connection counters (seq up to 2**53; conn is seeded from the clock in ms)

Revision ID: c0005
Revises: c0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None

COLUMNS = (("submissions", "seq"), ("events", "seq"), ("attachment_chunks", "file_size"), ("attachments", "size"),
           ("devices", "conn"))


def upgrade() -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
