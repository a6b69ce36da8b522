"""alerting: alarm acknowledgements, admin rules, notification channels and queue, site districts

``alarms`` gains who acknowledged an alarm, when and with what note, and when its notifications were queued
(alarms already raised count as notified, so an upgrade sends nothing about the past).

Revision ID: c0014
Revises: c0013
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "c0014"
down_revision = "c0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        batch.add_column(sa.Column("acked_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("acked_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("ack_note", sa.String(500), nullable=True))
        batch.add_column(sa.Column("notified_at", sa.Float(), nullable=True))
    op.execute("UPDATE alarms SET notified_at = raised_at")
    op.create_table(
        "alarm_rules",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "notify_channels",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alarm_id", sa.Integer(), nullable=False, index=True),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False, index=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
    )
    op.create_table(
        "site_districts",
        sa.Column("site", sa.String(128), primary_key=True),
        sa.Column("district", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("site_districts")
    op.drop_table("notifications")
    op.drop_table("notify_channels")
    op.drop_table("alarm_rules")
    with op.batch_alter_table("alarms") as batch:
        for column in ("notified_at", "ack_note", "acked_by", "acked_at"):
            batch.drop_column(column)
