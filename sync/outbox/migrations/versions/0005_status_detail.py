"""The decision behind an application's status, in words for the resident (issue 19)

``application_status.detail_json``: ``{"zh": ..., "en": ...}`` as the central pushed it (the reason it was not
accepted, the missing materials and their deadline, or the result and how to collect it), NULL without one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("application_status") as batch:
        batch.add_column(sa.Column("detail_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("application_status") as batch:
        batch.drop_column("detail_json")
