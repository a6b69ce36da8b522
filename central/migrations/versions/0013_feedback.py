"""好差评 and its follow-up (issue 19): ratings as rows, rectification tickets, the console's settings

``ratings`` holds each ``rating`` event's level, item, site and receipt (the statistics read it, never the
events); ``rectification_tickets`` the 差评整改 tickets that bad ratings and complaints open; ``console_settings``
what an admin sets on the dashboard (the deadline in working days, public holidays);
``enrolment_tokens.revoked_at`` marks a token an admin withdrew before any kiosk used it. Ratings already
stored as events are copied into ``ratings`` here; they open no tickets (they predate the follow-up process).

Revision ID: c0013
Revises: c0012
Create Date: 2026-12-05
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "c0013"
down_revision = "c0012"
branch_labels = None
depends_on = None

# Both the kiosk's level codes and the Chinese words earlier kiosks and tests sent (central.feedback keeps
# the same table).
_LEVELS = {"very_satisfied": 5, "satisfied": 4, "basically_satisfied": 3, "dissatisfied": 2,
           "very_dissatisfied": 1}
_ZH = {"非常满意": "very_satisfied", "满意": "satisfied", "基本满意": "basically_satisfied",
       "不满意": "dissatisfied", "非常不满意": "very_dissatisfied"}


def upgrade() -> None:
    ratings = op.create_table(
        "ratings",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("receipt_no", sa.String(32), nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Boolean(), nullable=False),
        sa.Column("rated_at", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_ratings_receipt_no", "ratings", ["receipt_no"])
    op.create_index("ix_ratings_rated_site", "ratings", ["rated_at", "site"])
    op.create_index("ix_ratings_rated_service", "ratings", ["rated_at", "service_code"])
    op.create_table(
        "rectification_tickets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True, unique=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("receipt_no", sa.String(32), nullable=False, server_default=""),
        sa.Column("device_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("site", sa.String(128), nullable=False, server_default=""),
        sa.Column("service_code", sa.String(64), nullable=False, server_default=""),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("deadline_at", sa.Float(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False, server_default=""),
        sa.Column("responded_at", sa.Float(), nullable=True),
        sa.Column("responded_by", sa.String(64), nullable=True),
        sa.Column("contacted_at", sa.Float(), nullable=True),
        sa.Column("contact_method", sa.String(16), nullable=True),
        sa.Column("contact_note", sa.Text(), nullable=False, server_default=""),
        sa.Column("contacted_by", sa.String(64), nullable=True),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False, server_default="ingest"),
    )
    for column in ("receipt_no", "site", "state", "opened_at", "deadline_at"):
        op.create_index(f"ix_rectification_tickets_{column}", "rectification_tickets", [column])
    op.create_table(
        "console_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("enrolment_tokens") as batch:
        batch.add_column(sa.Column("revoked_at", sa.Float(), nullable=True))
    _copy_ratings(ratings)


def _copy_ratings(ratings: sa.Table) -> None:
    conn = op.get_bind()
    sites = {str(d): str(site or "") for d, site in conn.execute(sa.text("SELECT device_id, site FROM devices"))}
    rows = conn.execute(sa.text("SELECT id, device_id, created_at, received_at, meta_json FROM events "
                                "WHERE type = 'rating'"))
    batch: list[dict[str, object]] = []
    for event_id, device_id, created_at, received_at, meta_json in rows:
        try:
            meta = json.loads(meta_json)
        except ValueError:
            continue
        level = meta.get("level") if isinstance(meta, dict) else None
        level = _ZH.get(level, level) if isinstance(level, str) else None
        if level not in _LEVELS:
            continue
        batch.append({"event_id": event_id, "device_id": device_id, "site": sites.get(device_id, "")[:128],
                      "service_code": str(meta.get("service_code") or "")[:64],
                      "receipt_no": str(meta.get("receipt_no") or "")[:32], "level": level,
                      "score": _LEVELS[level], "negative": _LEVELS[level] <= 2, "rated_at": created_at,
                      "received_at": received_at})
    if batch:
        op.bulk_insert(ratings, batch)


def downgrade() -> None:
    with op.batch_alter_table("enrolment_tokens") as batch:
        batch.drop_column("revoked_at")
    op.drop_table("console_settings")
    op.drop_table("rectification_tickets")
    op.drop_table("ratings")
