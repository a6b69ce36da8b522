"""sync engine: attachments, events, devices, telemetry

Revision ID: c0002
Revises: c0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("attachments_expected", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("complete", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "attachment_chunks",
        sa.Column("submission_id", sa.String(64), primary_key=True),
        sa.Column("file", sa.Integer(), primary_key=True),
        sa.Column("chunk", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(64), nullable=False, unique=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "attachments",
        sa.Column("submission_id", sa.String(64), primary_key=True),
        sa.Column("file", sa.Integer(), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False, index=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False, index=True),
        sa.Column("meta_json", sa.Text(), nullable=False),
        sa.Column("private_json", sa.Text(), nullable=True),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("conn", sa.Integer(), nullable=False),
        sa.Column("status_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("telemetry_json", sa.Text(), nullable=False),
    )
    op.create_table(
        "telemetry",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("at", sa.Float(), nullable=False, index=True),
        sa.Column("data_json", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("telemetry", "devices", "events", "attachments", "attachment_chunks"):
        op.drop_table(table)
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("complete")
        batch.drop_column("attachments_expected")
