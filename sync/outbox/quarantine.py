"""A damaged outbox file: moved aside (never deleted) when SQLite says it is damaged, found again in the
kiosk's home, and its undelivered rows read back as far as they can be (``Outbox`` salvages them)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from sync.outbox.errors import is_corruption, unavailable
from sync.outbox.models import State
from sync.runtime.files import fsync_dir

log = logging.getLogger("kiosk.outbox")

QUARANTINE_MARK = ".corrupt-"


def move_aside_if_corrupt(path: Path, home: Path, timeout_s: float) -> tuple[int, Path | None]:
    """A database that fails its integrity check is moved aside (never deleted) and a fresh one made.

    Only SQLite's verdict that the file is damaged (``quick_check`` not ok, SQLITE_CORRUPT, SQLITE_NOTADB)
    counts; a full disk, a lock or an I/O error raises :class:`OutboxUnavailable` and moves nothing.
    Returns the highest sequence number recoverable from a moved file (the ledger covers the rest) and
    where the file went (None if it stayed).
    """
    if not path.exists():
        return 0, None
    problem = None
    try:
        conn = sqlite3.connect(path, timeout=timeout_s)
        try:
            result = conn.execute("PRAGMA quick_check").fetchall()
            if result != [("ok",)]:
                problem = "integrity check failed"
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            trouble = unavailable(exc, home)
            assert trouble is not None
            raise trouble from exc
        problem = getattr(exc, "sqlite_errorname", type(exc).__name__)
    if problem is None:
        return 0, None
    recovered = 0
    try:
        conn = sqlite3.connect(path)
        recovered = int(conn.execute("select max(seq) from outbox").fetchone()[0] or 0)
        conn.close()
    except (sqlite3.Error, TypeError, ValueError):
        pass
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}{QUARANTINE_MARK}{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{QUARANTINE_MARK}{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            shutil.move(src, Path(str(target) + suffix))
    fsync_dir(path.parent)
    log.error("outbox database failed its check (%s): moved aside to %s", problem, target.name)
    return recovered, target


def quarantine_files(home: Path, name: str) -> list[Path]:
    """Files of the outbox ``name`` moved aside in ``home`` (their -wal/-shm companions not counted)."""
    prefix = name + QUARANTINE_MARK
    return sorted(p for p in home.glob(f"{prefix}*") if not p.name.endswith(("-wal", "-shm", "-journal")))


_SALVAGE_COLUMNS = ("id", "seq", "kind", "priority", "state", "created_at", "expires_at", "attempts", "last_error",
                    "sent_at", "service_code", "receipt_no", "body", "parent_id")
_SALVAGE_RUN = 200


def readable_rows(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The undelivered rows (pending, sent, refused) that can still be read from a damaged outbox file, by
    rowid in runs without any index (an index may be what is damaged); False if some could not be read."""
    rows: list[dict[str, Any]] = []
    complete = True
    try:
        conn = sqlite3.connect(path, timeout=1)
    except sqlite3.Error:
        return rows, False
    try:
        top = int(conn.execute("SELECT max(rowid) FROM outbox NOT INDEXED").fetchone()[0] or 0)
    except (sqlite3.Error, TypeError, ValueError):
        conn.close()
        return rows, False
    cols = ", ".join(_SALVAGE_COLUMNS)
    lo = 0
    try:
        while lo < top:
            hi = lo + _SALVAGE_RUN
            try:
                batch = conn.execute(f"SELECT {cols} FROM outbox NOT INDEXED WHERE rowid > ? AND rowid <= ? "  # noqa: S608
                                     "ORDER BY rowid", (lo, hi)).fetchall()
            except sqlite3.Error:
                complete = False
                batch = []
            for values in batch:
                row = dict(zip(_SALVAGE_COLUMNS, values, strict=True))
                if row["state"] in (State.PENDING, State.SENT, State.REJECTED) and row["body"] is not None:
                    rows.append(row)
            lo = hi
    finally:
        conn.close()
    return rows, complete
