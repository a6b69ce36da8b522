"""The operators' console for applications (issue 19): each application's state and due time on its row, the
structured detail of its last decision, and the indexes that keep the list fast over millions of rows

``submissions.app_status`` mirrors ``application_status.status`` (``received`` until an operator acts), so the
list filters and sorts on one table; ``submissions.due_at`` is when the current stage falls due (补正 deadline,
or 承诺时限 from 受理), NULL once finished. ``application_status.detail_json`` holds the reason, the missing
materials and their deadline, or the result and how to collect it, as pushed to the kiosks.
``audit_log.target`` gets an index for an application's history.

Revision ID: c0012
Revises: c0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "c0012"
down_revision = "c0011"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_submissions_received_id": ["received_at", "id"],
    "ix_submissions_code_received": ["service_code", "received_at"],
    "ix_submissions_device_received": ["device_id", "received_at"],
    "ix_submissions_status_received": ["app_status", "received_at"],
    "ix_submissions_status_due": ["app_status", "due_at"],
    "ix_submissions_due_id": ["due_at", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("app_status", sa.String(16), nullable=False, server_default="received"))
        batch.add_column(sa.Column("due_at", sa.Float(), nullable=True))
    with op.batch_alter_table("application_status") as batch:
        batch.add_column(sa.Column("detail_json", sa.Text(), nullable=True))
    # Applications that already have a status keep it on their row.
    op.execute("UPDATE submissions SET app_status = (SELECT a.status FROM application_status a "
               "WHERE a.submission_id = submissions.id) "
               "WHERE id IN (SELECT submission_id FROM application_status)")
    for name, columns in INDEXES.items():
        op.create_index(name, "submissions", columns)
    op.create_index("ix_audit_log_target", "audit_log", ["target"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_target", "audit_log")
    for name in INDEXES:
        op.drop_index(name, "submissions")
    with op.batch_alter_table("application_status") as batch:
        batch.drop_column("detail_json")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("due_at")
        batch.drop_column("app_status")
