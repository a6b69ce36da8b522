"""Personal data encrypted at rest: data keys wrapped by a master key outside the database (issue 13 item 14)

Adds ``data_keys``, the encrypted and masked columns of ``submissions`` and the encrypted columns of
``events``, and fills ``fields_masked`` of the rows already stored. It does not encrypt them: a migration has
no master key. ``kiosk-central serve`` (at start) or ``kiosk-central datakey encrypt-existing`` does
(central.field_encryption.encrypt_existing).

Revision ID: c0011
Revises: c0010
Create Date: 2026-12-05
"""

import json

import sqlalchemy as sa
from alembic import op

from sync.protocol.masking import mask_field

revision = "c0011"
down_revision = "c0010"
branch_labels = None
depends_on = None


def _masked(clear: str) -> str:
    try:
        fields = json.loads(clear)
    except ValueError:
        fields = []
    out = []
    for f in fields if isinstance(fields, list) else []:
        if isinstance(f, dict):
            kind = str(f.get("kind", ""))
            out.append({"id": f.get("id"), "label": f.get("label"), "kind": kind,
                        "value": mask_field(kind, f.get("value"))})
    return json.dumps(out, ensure_ascii=False)


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("master_key_id", sa.String(16), nullable=False, index=True),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("rewrapped_at", sa.Float(), nullable=True),
    )
    with op.batch_alter_table("submissions") as batch:
        batch.alter_column("fields_json", existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("fields_key", sa.String(32), nullable=True))
        batch.add_column(sa.Column("fields_sealed", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("fields_masked", sa.Text(), nullable=True))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("private_key", sa.String(32), nullable=True))
        batch.add_column(sa.Column("private_sealed", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    subs = sa.table("submissions", sa.column("id", sa.String()), sa.column("fields_json", sa.Text()),
                    sa.column("fields_masked", sa.Text()))
    last = ""
    while True:  # in batches by id: a large table never sits in memory at once
        rows = conn.execute(sa.select(subs.c.id, subs.c.fields_json)
                            .where(subs.c.id > last, subs.c.fields_json.is_not(None))
                            .order_by(subs.c.id).limit(1000)).all()
        if not rows:
            break
        for sub_id, clear in rows:
            conn.execute(sa.update(subs).where(subs.c.id == sub_id).values(fields_masked=_masked(clear)))
        last = rows[-1][0]


def downgrade() -> None:
    conn = op.get_bind()
    sealed = conn.scalar(sa.text("SELECT count(*) FROM submissions WHERE fields_sealed IS NOT NULL")) or 0
    sealed += conn.scalar(sa.text("SELECT count(*) FROM events WHERE private_sealed IS NOT NULL")) or 0
    if sealed:
        raise RuntimeError(f"{sealed} row(s) are encrypted: the previous schema cannot hold them")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("private_sealed")
        batch.drop_column("private_key")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("fields_masked")
        batch.drop_column("fields_sealed")
        batch.drop_column("fields_key")
        batch.alter_column("fields_json", existing_type=sa.Text(), nullable=False)
    op.drop_table("data_keys")
