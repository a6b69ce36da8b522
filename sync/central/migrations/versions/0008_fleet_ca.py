"""Fleet CA certificates and revocations (issue 9)

Revision ID: c0008
Revises: c0007
Create Date: 2026-11-27
"""

revision = "c0008"
down_revision = "c0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
