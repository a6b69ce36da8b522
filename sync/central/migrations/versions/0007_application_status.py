"""Application statuses pushed down to kiosks (issue 6)

Revision ID: c0007
Revises: c0006
Create Date: 2026-11-27
"""

revision = "c0007"
down_revision = "c0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
