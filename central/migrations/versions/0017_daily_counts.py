"""Counts per day for the statistics and report pages (issue 19, ``central.daily_counts``): applications per day of
receipt x item or site x open due day (received, finished, finished on time), ratings per day x item or site x
level, and the state row of each (the rules they were built with; NULL: not built). They are filled by the first
report or statistics page that needs them (or ``kiosk-central report-counts``), then kept by the ingest, the state
moves and the ratings in their own transactions: the migration does not count a big table itself, so an upgrade
stays short.

Revision ID: c0017
Revises: c0016
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "c0017"
down_revision = "c0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application_daily_counts",
        sa.Column("dim", sa.String(8), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("due_day", sa.Integer, primary_key=True),
        sa.Column("received", sa.Integer, nullable=False),
        sa.Column("finished", sa.Integer, nullable=False),
        sa.Column("on_time", sa.Integer, nullable=False),
    )
    op.create_table(
        "rating_daily_counts",
        sa.Column("dim", sa.String(8), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("level", sa.String(24), primary_key=True),
        sa.Column("negative", sa.Boolean, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    state = op.create_table(
        "daily_counts_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("rules", sa.Text, nullable=True),
    )
    op.bulk_insert(state, [{"name": "applications", "rules": None}, {"name": "ratings", "rules": None}])


def downgrade() -> None:
    op.drop_table("daily_counts_state")
    op.drop_table("rating_daily_counts")
    op.drop_table("application_daily_counts")
