"""A rollback after a migration: the new release moved the outbox to a newer schema and took submissions,
then failed its health check. The rollback must take the outbox back to the old release's schema with the
new release's own scripts, keeping every row, before the old release (which refuses a newer schema) runs
again; and if that cannot be done without loss, keep the new release running and say so (sync/ota/schema.py).

The fake release 2.0.0 carries the real outbox scripts plus a test-only revision after their head (a column rebuilt into
the outbox table and a new table), a ``start`` script that migrates with them through the real
``sync.runtime.upgrade`` machinery (``python -m sync.ota schema upgrade --migrations ...``), the ``schema`` tool a
rollback runs, and a health script that fails."""

from __future__ import annotations

import functools
import http.server
import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.keys import CentralKeys
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.ota.install import unpack_release
from sync.ota.manager import OtaManager, guard_check
from sync.ota.schema import STATE_KEY, record
from sync.ota.switch import HELD, ROLLED_BACK, SWITCHED, Releases
from sync.ota.trust import ReleaseTrust
from sync.outbox.store import MIGRATIONS, Outbox
from sync.runtime.sqlite import sqlite_engine
from sync.runtime.upgrade import DowngradeFailed, SchemaTooNew, guarded_downgrade
from tests.helpers import start_central, start_daemon, wait_until
from tests.test_ota import RELEASE_KEY, signed_update

OLD, NEW = "1.0.0", "2.0.0"
# The real outbox scripts' head, and the test-only revision after it (so a real migration added later moves both).
HEAD = max(p.name[:4] for p in (Path(MIGRATIONS) / "versions").glob("[0-9]*_*.py"))
NEXT = f"{int(HEAD) + 1:04d}"
FIELDS = [{"id": "name", "label": "姓名", "kind": "name", "value": "张三"}]

MIGRATION_NEXT = '''"""test-only: a channel column rebuilt into the outbox, and a table of tags"""
import sqlalchemy as sa
from alembic import op

revision = "@NEXT@"
down_revision = "@HEAD@"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", recreate="always") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=False, server_default="kiosk"))
    op.create_table("submission_tags", sa.Column("id", sa.String(64), primary_key=True),
                    sa.Column("tag", sa.String(32), nullable=False))


def downgrade() -> None:
    @BROKEN@
    op.drop_table("submission_tags")
    with op.batch_alter_table("outbox", recreate="always") as batch:
        batch.drop_column("channel")
'''


def migration_text(broken: str) -> str:
    return MIGRATION_NEXT.replace("@NEXT@", NEXT).replace("@HEAD@", HEAD).replace("@BROKEN@", broken)


def release_archive(path: Path, version: str, *, migration: bool = True, broken_downgrade: bool = False) -> Path:
    """A fake release: VERSION, a failing health script, and (``migration``) its own outbox scripts with 0005."""
    files: dict[str, bytes] = {"VERSION": f"{version}\n".encode(), "health": b"#!/bin/sh\nexit 1\n"}
    if migration:
        here = '"$(dirname "$0")"'
        files["schema"] = (f'#!/bin/sh\nexec {sys.executable} -m sync.ota schema "$@" --migrations {here}/migrations\n'
                           .encode())
        files["start"] = f'#!/bin/sh\nexec {here}/schema upgrade --db "$1"\n'.encode()
        for p in sorted(MIGRATIONS.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                files[f"migrations/{p.relative_to(MIGRATIONS)}"] = p.read_bytes()
        broken = 'raise RuntimeError("this downgrade was never tested")' if broken_downgrade else "pass"
        files[f"migrations/versions/{NEXT}_channel.py"] = migration_text(broken).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


def revision_in(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def rows(db: Path) -> dict[str, tuple[Any, ...]]:
    """Every outbox row by id, the columns every schema since 0001 has."""
    with sqlite3.connect(db) as conn:
        return {r[0]: r[1:] for r in conn.execute("SELECT id, seq, kind, state, receipt_no, body FROM outbox")}


def columns(db: Path, table: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


class Reports(list[tuple[Any, ...]]):
    def __call__(self, *args: Any) -> None:
        self.append(args)

    def final(self) -> dict[str, Any]:
        [(_cid, _action, ok, reason, detail, extra)] = self
        return {"ok": ok, "reason": reason, "detail": detail, **(extra or {})}


@pytest.fixture
def releases(tmp_path: Path) -> Releases:
    root = Releases(tmp_path / "opt-street-kiosk")
    unpack_release(release_archive(tmp_path / "old.tar.gz", OLD, migration=False), root.dir, OLD)
    root.switch_to(OLD)
    return root


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The central's artefact folder over HTTP (what ``kiosk-central serve --http`` does for /ota/)."""
    home = tmp_path / "central-home"
    home.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(home))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield home, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def manager(releases: Releases, outbox: Outbox, keys: CentralKeys, reports: Reports,
            restarted: threading.Event) -> OtaManager:
    trust = ReleaseTrust(releases.root)  # the offline release key pinned (tests/test_ota.py signs with it)
    if trust.key() is None:
        trust.pin(RELEASE_KEY.public_key().public_bytes_raw())
    return OtaManager(releases, outbox, report=reports, restart=restarted.set, poll_s=0.05, trust=trust)


def switched_with_migration(releases: Releases, outbox: Outbox, device: DeviceConfig, keys: CentralKeys,
                            served: tuple[Path, str], tmp_path: Path, **archive: bool) -> tuple[str, list[str]]:
    """The old release takes the update and switches; 2.0.0 starts, migrates to 0005, takes submissions.
    Returns the command id and the ids of the submissions taken under 2.0.0."""
    home, url = served
    args = signed_update(home, NEW, release_archive(tmp_path / "new.tar.gz", NEW, **archive), base_url=url,
                       health_timeout_s=60)
    restarted = threading.Event()
    old = manager(releases, outbox, keys, Reports(), restarted)
    old.start_update("0190a0a0-0000-7000-8000-00000000000a", args)
    old.join(30)
    assert restarted.is_set() and releases.current_version() == NEW
    state = releases.load_state()
    assert state is not None and state.extra[STATE_KEY]["head"] == HEAD  # recorded before switching
    assert state.extra[STATE_KEY]["db"] == str(outbox.path)

    # 2.0.0 starts: its own scripts migrate the outbox (the pre-migration copy is taken on the way).
    start = subprocess.run([str(releases.path(NEW) / "start"), str(outbox.path)], capture_output=True, text=True,
                           timeout=60)
    assert start.returncode == 0, start.stdout + start.stderr
    assert revision_in(outbox.path) == NEXT and "channel" in columns(outbox.path, "outbox")
    assert outbox.path.with_name(f"{OUTBOX_FILE}.bak-{HEAD}").exists()
    # ... and takes submissions (the copy does not have these: restoring it would lose them).
    added = [outbox.enqueue_submission(device, "MZ-NEW-002", FIELDS).message_id for _ in range(4)]
    with pytest.raises(SchemaTooNew):  # the hole: the old code cannot open this database
        Outbox(outbox.path)
    return "0190a0a0-0000-7000-8000-00000000000a", added


def test_rollback_downgrades_the_outbox_with_the_new_release_and_every_row_reaches_the_central(
        releases: Releases, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys,
        served: tuple[Path, str], tmp_path: Path) -> None:
    before = [outbox.enqueue_submission(device, "MZ-OLD-001", FIELDS).message_id for _ in range(3)]
    command_id, added = switched_with_migration(releases, outbox, device, central_keys, served, tmp_path)

    # 2.0.0's daemon: reaches the broker (no central is listening yet: what it sends stays unacked), then its
    # health script fails and it rolls back.
    reports, restarted = Reports(), threading.Event()
    new = manager(releases, outbox, central_keys, reports, restarted)
    daemon = start_daemon(outbox, device)
    try:
        new.resume()
        assert restarted.wait(60), "the failed release never asked for a restart"
        new.join(10)
    finally:
        daemon.stop()
        new.stop()
    result = reports.final()
    assert (result["ok"], result["reason"], result["schema"]) == (False, ROLLED_BACK, f"downgraded {NEXT}->{HEAD}")
    assert (result["running_version"], result["to_version"], reports[0][0]) == (OLD, NEW, command_id)
    assert "health script exited with status 1" in result["detail"]
    assert releases.current_version() == OLD
    assert revision_in(outbox.path) == HEAD and "channel" not in columns(outbox.path, "outbox")

    # The old code opens the outbox: nothing missing, and everything reaches a real central.
    old_outbox = Outbox(outbox.path)
    central = start_central(device.broker_url, tmp_path / "central.db", central_keys, worker_id="mig")
    daemon = start_daemon(old_outbox, device)
    try:
        assert set(before + added) <= set(rows(outbox.path))
        assert old_outbox.next_counter("seq") > max(r[0] for r in rows(outbox.path).values())
        wait_until(lambda: {s["id"] for s in central.store.list_masked()} >= set(before + added), timeout=30,
                   what="every submission at the central")
        wait_until(lambda: old_outbox.counts()["pending"] == 0 and old_outbox.counts().get("sent", 0) == 0,
                   timeout=30, what="the outbox drained")
        assert central.store.duplicates() == 0
    finally:
        daemon.stop()
        central.worker.stop()
        central.store.close()
        old_outbox.close()


def test_the_guard_downgrades_too_and_the_old_release_reports_it(
        releases: Releases, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys,
        served: tuple[Path, str], tmp_path: Path) -> None:
    command_id, added = switched_with_migration(releases, outbox, device, central_keys, served, tmp_path)
    # 2.0.0 then crash-loops: it never confirms. The guard, from the old release, after the deadline:
    state = releases.load_state()
    assert state is not None and state.phase == SWITCHED
    out = subprocess.run([sys.executable, "-m", "sync.ota", "guard", "--root", str(releases.root)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "nothing to roll back" in out.stdout  # before the deadline
    state.deadline = time.time() - 1
    releases.save_state(state)
    out = subprocess.run([sys.executable, "-m", "sync.ota", "guard", "--root", str(releases.root)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and f"rolled back to {OLD}" in out.stdout, out.stdout + out.stderr
    assert releases.current_version() == OLD and revision_in(outbox.path) == HEAD
    assert set(added) <= set(rows(outbox.path))

    old_outbox = Outbox(outbox.path)  # the old release starts and reports what the guard did
    reports = Reports()
    try:
        manager(releases, old_outbox, central_keys, reports, threading.Event()).resume()
        assert old_outbox.counts()["pending"] == 4
    finally:
        old_outbox.close()
    result = reports.final()
    assert (result["reason"], result["schema"], result["running_version"]) == (
        ROLLED_BACK, f"downgraded {NEXT}->{HEAD}", OLD)
    assert "guard" in result["detail"] and reports[0][0] == command_id


def test_a_broken_downgrade_with_new_rows_holds_the_new_release_and_loses_nothing(
        releases: Releases, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys,
        served: tuple[Path, str], tmp_path: Path) -> None:
    _command_id, _added = switched_with_migration(releases, outbox, device, central_keys, served, tmp_path,
                                                 broken_downgrade=True)
    kept = rows(outbox.path)
    state = releases.load_state()
    assert state is not None
    reports, restarted = Reports(), threading.Event()
    new = manager(releases, outbox, central_keys, reports, restarted)
    new._rollback(state, "the health script exited with status 1")  # what _confirm calls on a failed check
    result = reports.final()
    assert (result["ok"], result["reason"], result["running_version"]) == (False, "rollback_held", NEW)
    assert result["schema"].startswith(f"not downgraded {NEXT}->{HEAD}") and "never tested" in result["schema"]
    assert "held" in result["detail"] and "keeps running" in result["detail"]
    assert releases.current_version() == NEW and not restarted.is_set()
    assert revision_in(outbox.path) == NEXT and rows(outbox.path) == kept  # untouched: nothing lost
    held = releases.load_state()
    assert held is not None and held.phase == HELD and held.reported
    assert guard_check(releases, now=time.time() + 3600) is None  # the guard leaves a held release alone
    assert releases.current_version() == NEW
    assert outbox.enqueue_submission(device, "MZ-NEW-002", FIELDS).message_id  # still accepting


def test_the_guard_holds_too_when_the_downgrade_fails_with_new_rows(
        releases: Releases, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys,
        served: tuple[Path, str], tmp_path: Path) -> None:
    switched_with_migration(releases, outbox, device, central_keys, served, tmp_path, broken_downgrade=True)
    kept = rows(outbox.path)
    state = releases.load_state()
    assert state is not None
    state.deadline = time.time() - 1
    releases.save_state(state)
    out = subprocess.run([sys.executable, "-m", "sync.ota", "guard", "--root", str(releases.root)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "rollback held" in out.stdout, out.stdout + out.stderr
    assert releases.current_version() == NEW and revision_in(outbox.path) == NEXT and rows(outbox.path) == kept
    reports = Reports()
    manager(releases, outbox, central_keys, reports, threading.Event()).resume()  # 2.0.0 reports it
    result = reports.final()
    assert (result["reason"], result["running_version"]) == ("rollback_held", NEW)
    assert "guard" in result["detail"] and "never tested" in result["schema"]


def test_a_broken_downgrade_with_nothing_new_restores_the_copy(
        releases: Releases, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys,
        served: tuple[Path, str], tmp_path: Path) -> None:
    before = [outbox.enqueue_submission(device, "MZ-OLD-001", FIELDS).message_id for _ in range(2)]
    home, url = served
    args = signed_update(home, NEW, release_archive(tmp_path / "n.tar.gz", NEW, broken_downgrade=True),
                       base_url=url)
    old = manager(releases, outbox, central_keys, Reports(), threading.Event())
    old.start_update("0190a0a0-0000-7000-8000-00000000000b", args)
    old.join(30)
    assert subprocess.run([str(releases.path(NEW) / "start"), str(outbox.path)], timeout=60).returncode == 0
    state = releases.load_state()
    assert state is not None and revision_in(outbox.path) == NEXT
    reports, restarted = Reports(), threading.Event()
    manager(releases, outbox, central_keys, reports, restarted)._rollback(state, "unhealthy")
    result = reports.final()
    assert (result["reason"], result["running_version"]) == (ROLLED_BACK, OLD) and restarted.is_set()
    assert result["schema"].startswith(f"restored {OUTBOX_FILE}.bak-{HEAD}")
    assert revision_in(outbox.path) == HEAD and set(before) == set(rows(outbox.path))


def seed(db: Path, device: DeviceConfig) -> dict[str, tuple[Any, ...]]:
    ob = Outbox(db)
    try:
        ids = [ob.enqueue_submission(device, "MZ-OLD-001", FIELDS).message_id for _ in range(6)]
        ob.mark_sent(ids[:2])
        ob.mark_acked(ids[:1])
    finally:
        ob.close()
    return rows(db)


def test_every_real_outbox_migration_downgrades_keeping_rows(tmp_path: Path, device: DeviceConfig) -> None:
    db = tmp_path / OUTBOX_FILE
    kept = seed(db, device)
    assert revision_in(db) == HEAD and len(kept) == 6
    gone = {"0003": ("application_status", None), "0002": (None, "ix_outbox_undelivered"),
            "0001": ("seen_commands", "ix_outbox_parent_id")}
    engine = sqlite_engine(db)
    try:
        for target, (table, index) in gone.items():
            assert guarded_downgrade(engine, MIGRATIONS, target) is not None  # a copy was taken
            assert revision_in(db) == target and rows(db) == kept, target
            with sqlite3.connect(db) as conn:
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            assert table not in names and index not in names
        assert "parent_id" not in columns(db, "outbox")
        # Below 0001 there is no outbox: refused, and nothing changes.
        with pytest.raises(DowngradeFailed, match="would leave"):
            guarded_downgrade(engine, MIGRATIONS, "base")
        assert revision_in(db) == "0001" and rows(db) == kept
    finally:
        engine.dispose()
    # And back up to head with the same rows, deliverable as before.
    ob = Outbox(db)
    try:
        assert revision_in(db) == HEAD and rows(db) == kept
        assert len(ob.pending_batch(100)) == 4
    finally:
        ob.close()


def test_the_schema_tool_refuses_bad_input_clearly(tmp_path: Path, device: DeviceConfig) -> None:
    db = tmp_path / OUTBOX_FILE
    kept = seed(db, device)

    def tool(*args: str) -> tuple[int, dict[str, Any]]:
        out = subprocess.run([sys.executable, "-m", "sync.ota", "schema", *args, "--json"], capture_output=True,
                             text=True, timeout=60)
        return out.returncode, json.loads(out.stdout.strip().splitlines()[-1])

    code, answer = tool("downgrade", "--db", str(tmp_path / "missing.db"), "--to", "0003")
    assert code == 2 and "is not a database file" in answer["error"] and not (tmp_path / "missing.db").exists()
    code, answer = tool("downgrade", "--db", str(db))
    assert code == 2 and "--to" in answer["error"]
    code, answer = tool("downgrade", "--db", str(db), "--to", "0003", "--migrations", str(tmp_path))
    assert code == 2 and "not a migration scripts folder" in answer["error"]
    code, answer = tool("downgrade", "--db", str(db), "--to", "9999")
    assert (code, answer["revision"]) == (3, HEAD) and "9999" in answer["error"]
    # A database from a release these scripts do not know: refused, untouched.
    future = tmp_path / "future"
    shutil.copytree(MIGRATIONS, future, ignore=shutil.ignore_patterns("__pycache__"))
    (future / "versions" / f"{NEXT}_channel.py").write_text(migration_text("pass"), "utf-8")
    assert tool("upgrade", "--db", str(db), "--migrations", str(future))[0] == 0
    code, answer = tool("downgrade", "--db", str(db), "--to", "0003")
    assert code == 3 and NEXT in answer["error"] and answer["revision"] == NEXT
    assert rows(db) == kept
    assert record(db, MIGRATIONS)["head"] == HEAD
