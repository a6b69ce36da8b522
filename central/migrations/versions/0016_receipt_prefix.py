"""The applications list finds a receipt number by its beginning (issue 19): on PostgreSQL an index on
``submissions.receipt_no`` with ``text_pattern_ops``, which ``receipt_no LIKE 'KR-20261205-AB12%'`` uses whatever
the database's collation (the plain index serves it only under the C collation). SQLite needs nothing: the list
asks it for the byte range the prefix spans, which its existing ``receipt_no`` index serves.

Revision ID: c0016
Revises: c0015
Create Date: 2026-12-05
"""

from alembic import op

revision = "c0016"
down_revision = "c0015"
branch_labels = None
depends_on = None

INDEX = "ix_submissions_receipt_prefix"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(INDEX, "submissions", ["receipt_no"], postgresql_ops={"receipt_no": "text_pattern_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, "submissions")
