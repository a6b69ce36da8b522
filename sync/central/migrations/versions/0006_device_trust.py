"""Device signatures and per-device sequence tracking (issue 9)

Revision ID: c0006
Revises: c0005
Create Date: 2026-11-27
"""

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
