"""Take the outbox back to the older release's schema before a rollback switches ``current`` back to it.

The hole this closes: a new release migrates the outbox (0004 -> 0005), accepts submissions, then fails its
health check. The old release refuses a schema newer than its scripts (``sync.runtime.upgrade.SchemaTooNew``), so a
plain rollback leaves the kiosk dark; restoring the pre-migration copy would drop what residents submitted
under the new release. So, before switching back:

1. :func:`record` (when the update starts, old release): the outbox file and the old release's head
   revision go into the update state (``ota_state.json``, ``extra["schema"]``).
2. :func:`take_back` (at rollback, by :class:`~sync.ota.manager.OtaManager` or the guard): if the database
   is past that head, the **newer** release's own code downgrades it — only it has the scripts that know the
   newer layout. Its schema tool is run: ``releases/<new>/schema`` if the release carries one, else
   ``releases/<new>/street-kiosk -m sync.ota schema`` (the bundle), with ``downgrade --db DB --to REV``;
   ``sync.runtime.upgrade.guarded_downgrade`` does it in one transaction and refuses to end with fewer outbox rows.
   The revision is read back afterwards rather than trusted from an exit status.
3. If that fails: the pre-migration copy (``{db}.bak-{old head}``) is written back **only** when nothing would
   be lost by it — every outbox row and sequence number of the live database is in the copy (acks recorded
   since then just mean resends, which the central deduplicates). Otherwise the rollback is *held*: the new
   release keeps running (it can open its own schema and loses nothing), automatic rollback stops, and the
   result says so; a fixed release (or a technician) is the way on. A generic copy of new rows into the older
   layout was rejected: the one piece of code that knew how to map the newer layout back has just failed, so
   any column-matching guess could silently drop or mangle a resident's submission.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.runtime.upgrade import BACKUP_SUFFIX, script_directory

log = logging.getLogger("kiosk.ota")

SCHEMA_TOOL = "schema"  # an executable a release may carry at its top, taking the arguments below
BUNDLE_EXE = "street-kiosk"
TOOL_TIMEOUT_S = 300.0
STATE_KEY = "schema"  # UpdateState.extra[STATE_KEY] = {"db": path, "head": revision}
RESULT_KEY = "schema_result"  # UpdateState.extra[RESULT_KEY] = what the rollback did to the database


@dataclass(frozen=True)
class Outcome:
    """``ok``: the old release can open the database now. ``text`` goes into the command result."""

    ok: bool
    text: str


def code_head(migrations: Path) -> str | None:
    heads = script_directory(migrations).get_heads()
    return heads[0] if len(heads) == 1 else None


def record(db: Path, migrations: Path) -> dict[str, Any]:
    """What a rollback needs to know, saved when the update starts (the running code is the old release)."""
    known = sorted(rev.revision for rev in script_directory(migrations).walk_revisions())
    return {"db": str(db), "head": code_head(migrations), "known": known}


def database_revision(db: Path) -> str | None:
    """The revision stamped in ``db`` (None: no file, no stamp, or unreadable)."""
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def schema_tool(release_dir: Path) -> list[str] | None:
    """The command that runs ``python -m sync.ota schema`` with the release's own code, or None."""
    tool = release_dir / SCHEMA_TOOL
    if tool.is_file() and os.access(tool, os.X_OK):
        return [str(tool)]
    exe = release_dir / BUNDLE_EXE
    if exe.is_file() and os.access(exe, os.X_OK):
        return [str(exe), "-m", "sync.ota", "schema"]
    return None


def take_back(release_dir: Path, recorded: dict[str, Any] | None, *, in_process: Path | None = None,
              timeout_s: float = TOOL_TIMEOUT_S) -> Outcome:
    """Bring the outbox named in ``recorded`` back to its recorded head with ``release_dir``'s code.

    ``in_process``: the migration scripts of the running code, when the running code *is* that release (the
    manager's rollback) and the release carries no schema tool.
    """
    if not recorded or not recorded.get("db") or not recorded.get("head"):
        return Outcome(True, "not recorded (update started by an older release)")
    db, head = Path(recorded["db"]), str(recorded["head"])
    now = database_revision(db)
    if now is None or now == head:
        return Outcome(True, f"unchanged {now or 'none'}")
    if now in (recorded.get("known") or ()):  # older than its head: the old release upgrades it itself
        return Outcome(True, f"unchanged {now} (older than {head})")
    why = _run_downgrade(release_dir, db, head, in_process, timeout_s)
    after = database_revision(db)
    if after == head:
        log.warning("outbox downgraded from %s to %s for the rollback", now, head)
        return Outcome(True, f"downgraded {now}->{head}")
    why = why or f"the database is at {after} after the downgrade"
    log.error("outbox downgrade %s->%s for the rollback failed: %s", now, head, why)
    restored = restore_if_lossless(db, head)
    if restored is not None:
        return Outcome(True, f"restored {restored} after the downgrade failed ({why}); nothing was added since")
    return Outcome(False, f"not downgraded {now}->{head}: {why}")


def _run_downgrade(release_dir: Path, db: Path, head: str, in_process: Path | None, timeout_s: float) -> str:
    """Run the release's downgrade; return why it failed ("" when it said it succeeded)."""
    tool = schema_tool(release_dir)
    if tool is None:
        if in_process is None:
            return f"release {release_dir.name} carries no schema tool"
        return _downgrade_here(db, head, in_process)
    try:
        done = subprocess.run([*tool, "downgrade", "--db", str(db), "--to", head, "--json"], cwd=release_dir,
                              capture_output=True, text=True, timeout=timeout_s, check=False,
                              env={**os.environ, "KIOSK_RELEASE_DIR": str(release_dir)})
    except subprocess.TimeoutExpired:
        return f"the schema tool did not finish in {timeout_s:.0f} s"
    except OSError as exc:
        return f"the schema tool could not run: {type(exc).__name__}"
    if done.returncode == 0:
        return ""
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(done.stdout.strip().splitlines()[-1])["error"])[:300]
    return f"the schema tool exited with status {done.returncode}"


def _downgrade_here(db: Path, head: str, migrations: Path) -> str:
    from sync.runtime.sqlite import sqlite_engine
    from sync.runtime.upgrade import SchemaError, guarded_downgrade

    engine = sqlite_engine(db)
    try:
        guarded_downgrade(engine, migrations, head)
    except SchemaError as exc:
        return str(exc)[:300]
    finally:
        engine.dispose()
    return ""


def restore_if_lossless(db: Path, head: str) -> str | None:
    """Write ``{db}.bak-{head}`` back over ``db`` if every outbox row and sequence number is in it; return its
    name, or None (no copy, or the live database holds something the copy does not)."""
    backup = db.with_name(f"{db.name}{BACKUP_SUFFIX}{head}")
    if not backup.is_file() or database_revision(backup) != head:
        return None
    try:
        live, copy = _ids_and_seq(db), _ids_and_seq(backup)
    except sqlite3.Error:
        return None
    if not live[0] <= copy[0] or live[1] > copy[1]:
        return None
    try:
        src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(db, timeout=30)
            try:
                src.backup(dst)  # one transaction on the live file: all of the copy or none of it
                dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        log.error("the outbox could not be restored from %s: %s", backup.name, type(exc).__name__)
        return None
    log.warning("outbox restored from %s for the rollback (nothing was added since)", backup.name)
    return backup.name


def _ids_and_seq(db: Path) -> tuple[set[str], int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        ids = {str(r[0]) for r in conn.execute("SELECT id FROM outbox")}
        seq = conn.execute("SELECT max(value) FROM counters WHERE name = 'seq'").fetchone()[0]
    finally:
        conn.close()
    return ids, int(seq or 0)


__all__ = ["RESULT_KEY", "SCHEMA_TOOL", "STATE_KEY", "Outcome", "code_head", "database_revision", "record",
           "restore_if_lossless", "schema_tool", "take_back"]
