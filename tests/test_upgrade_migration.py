"""Schema upgrades on a kiosk: the previous schema's queue survives, a failed migration is undone from the
backup, and a schema newer than the code is refused untouched (sync/runtime/upgrade.py through
sync/runtime/sqlite.py)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from central.store import MIGRATIONS as CENTRAL_MIGRATIONS
from central.store import CentralStore
from sync.device import OUTBOX_FILE
from sync.outbox.store import MIGRATIONS, Outbox
from sync.runtime.sqlite import sqlite_engine, upgrade
from sync.runtime.upgrade import MigrationFailed, SchemaTooNew, script_directory
from tests.helpers import upgrade_to

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS = "0003"  # the outbox schema the first deployed kiosks carry


def head_of(migrations: Path) -> str:
    heads = script_directory(migrations).get_heads()
    assert len(heads) == 1
    return heads[0]


def revision_in(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


def make_outbox_at(db: Path, revision: str) -> None:
    upgrade_to(sqlite_engine(db), MIGRATIONS, revision)


def seed_0003_rows(db: Path, pending: int, acked: int) -> dict[str, bytes]:
    """Rows as a 0003 kiosk wrote them: sealed bodies (opaque bytes here), pending and acked."""
    bodies: dict[str, bytes] = {}
    now = time.time()
    with sqlite3.connect(db) as conn:
        for seq in range(1, pending + acked + 1):
            message_id = f"0190a0b0-0000-7000-8000-{seq:012d}"
            state = "pending" if seq <= pending else "acked"
            body = hashlib.sha256(message_id.encode()).digest() * 8
            conn.execute(
                "INSERT INTO outbox (id, seq, kind, priority, state, created_at, expires_at, attempts, last_error,"
                " sent_at, acked_at, service_code, receipt_no, body, parent_id)"
                " VALUES (?, ?, 'submission', 0, ?, ?, NULL, 0, NULL, NULL, ?, 'SVC-001', ?, ?, NULL)",
                (message_id, seq, state, now - 3600 + seq, now if state == "acked" else None, f"R{seq:08d}",
                 body if state == "pending" else None))
            if state == "pending":
                bodies[message_id] = body
        conn.execute("INSERT INTO counters (name, value) VALUES ('seq', ?)", (pending + acked,))
    return bodies


def test_outbox_of_the_previous_schema_upgrades_with_its_pending_rows_intact(tmp_path: Path) -> None:
    db = tmp_path / OUTBOX_FILE
    make_outbox_at(db, PREVIOUS)
    assert revision_in(db) == PREVIOUS
    bodies = seed_0003_rows(db, pending=25, acked=5)

    outbox = Outbox(db)
    try:
        assert revision_in(db) == head_of(MIGRATIONS)
        queued = outbox.pending_batch(100)
        assert {m.id: m.body for m in queued} == bodies
        assert outbox.counts()["pending"] == 25
        assert outbox.counts()["acked"] == 5
        # New submissions continue the sequence instead of reusing a number.
        assert outbox.next_counter("seq") == 31
    finally:
        outbox.close()
    backup = db.with_name(f"{OUTBOX_FILE}.bak-{PREVIOUS}")
    assert backup.exists()
    assert revision_in(backup) == PREVIOUS


def test_an_up_to_date_or_new_database_is_not_backed_up(tmp_path: Path) -> None:
    db = tmp_path / OUTBOX_FILE
    Outbox(db).close()  # new: nothing worth a copy
    Outbox(db).close()  # at head: untouched
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak-" in p.name) == []
    assert revision_in(db) == head_of(MIGRATIONS)


def failing_migrations(tmp_path: Path) -> Path:
    """The real scripts plus one more that commits part of its work and then fails."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    script = BREAKING_MIGRATION.replace("@DOWN@", head_of(MIGRATIONS))
    (scripts / "versions" / "9001_breaks.py").write_text(script, encoding="utf-8")
    return scripts


BREAKING_MIGRATION = '''
"""a migration that commits part way and then fails"""
from alembic import op

revision = "9001"
down_revision = "@DOWN@"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql("COMMIT")  # as a careless migration might: what follows is outside the transaction
    bind.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
    bind.exec_driver_sql("DELETE FROM outbox")
    raise RuntimeError("disk full while rebuilding the outbox")


def downgrade() -> None:
    pass
'''


def test_a_failed_migration_restores_the_backup(tmp_path: Path) -> None:
    db = tmp_path / OUTBOX_FILE
    make_outbox_at(db, PREVIOUS)
    bodies = seed_0003_rows(db, pending=10, acked=0)
    Outbox(db).close()  # the real upgrade to head
    head = head_of(MIGRATIONS)
    scripts = failing_migrations(tmp_path)

    engine = sqlite_engine(db)
    with pytest.raises(MigrationFailed) as failure:
        upgrade(engine, scripts)
    engine.dispose()
    message = str(failure.value)
    assert "restored" in message and f"bak-{head}" in message and "disk full" in message

    assert revision_in(db) == head
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_done" not in tables
    outbox = Outbox(db)  # the real scripts open it as before
    try:
        assert {m.id: m.body for m in outbox.pending_batch(100)} == bodies
    finally:
        outbox.close()
    assert db.with_name(f"{OUTBOX_FILE}.bak-{head}").exists()


def stamp_future(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f9999_from_the_future'")
    with sqlite3.connect(db) as conn:  # the outbox is in WAL mode: fold the change into the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_a_schema_newer_than_the_code_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / OUTBOX_FILE
    make_outbox_at(db, PREVIOUS)
    seed_0003_rows(db, pending=3, acked=0)
    Outbox(db).close()
    stamp_future(db)
    before = digest(db)

    with pytest.raises(SchemaTooNew) as refused:
        Outbox(db)
    message = str(refused.value)
    assert "f9999_from_the_future" in message and "newer than this software" in message
    assert head_of(MIGRATIONS) in message
    assert digest(db) == before
    assert not list(tmp_path.glob(f"{OUTBOX_FILE}.bak-f9999*"))


def test_the_central_store_refuses_a_newer_schema_too(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    CentralStore(f"sqlite:///{db}").close()
    assert revision_in(db) == head_of(CENTRAL_MIGRATIONS)
    stamp_future(db)
    with pytest.raises(SchemaTooNew):
        CentralStore(f"sqlite:///{db}")


def test_the_daemon_command_says_why_it_will_not_start(tmp_path: Path) -> None:
    """Through the appliance's entry point (packaging/entry.py): one clear line, a distinct exit code."""
    home = tmp_path / "kiosk"
    home.mkdir()
    Outbox(home / OUTBOX_FILE).close()
    stamp_future(home / OUTBOX_FILE)
    result = subprocess.run([sys.executable, str(ROOT / "packaging" / "entry.py"), "kiosk", "status", "--json",
                             "--home", str(home)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "newer than this software" in result.stderr
    assert result.stderr.startswith("kiosk: ")
