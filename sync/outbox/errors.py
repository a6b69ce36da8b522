"""The outbox's refusals: why new submissions are refused (``OutboxFull``), and which SQLite or file errors
are transient (``OutboxUnavailable``: full disk, lock, I/O) rather than a damaged file (``is_corruption``)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path


class OutboxFull(RuntimeError):
    """New submissions are refused; ``code`` is for machines, ``message`` for the resident's screen."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class OutboxUnavailable(OutboxFull):
    """The outbox cannot be opened or written right now: a full disk, a lock held past the timeout, an I/O
    error. Nothing was moved or lost; the caller tries again later (with backoff). ``detail`` names the
    SQLite error for the logs (never personal data)."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        super().__init__(code, message)
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


REFUSAL_MESSAGES = {
    "queue_full": "暂停受理：本机待提交的申请过多，请稍后再试或到人工窗口办理",
    "disk_low": "暂停受理：本机存储空间不足，请到人工窗口办理",
    "disk_full": "暂停受理：本机存储空间已满，已提交的申请不受影响，请到人工窗口办理",
    "db_locked": "暂停受理：本机数据正忙，稍后自动重试",
    "db_unavailable": "暂停受理：本机数据暂时无法读写，稍后自动重试",
}

# SQLite's primary result codes that mean the file itself is damaged; everything else is transient.
_CORRUPTION_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_FULL_CODES = {13}  # SQLITE_FULL
_LOCK_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED


def _sqlite_error(exc: BaseException) -> sqlite3.Error | None:
    if isinstance(exc, sqlite3.Error):
        return exc
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, sqlite3.Error) else None


def is_corruption(exc: BaseException) -> bool:
    """True only for SQLite's own verdict that the file is damaged (not for full, locked, I/O)."""
    err = _sqlite_error(exc)
    return err is not None and (getattr(err, "sqlite_errorcode", 0) & 0xFF) in _CORRUPTION_CODES


def unavailable(exc: BaseException, folder: Path | None = None) -> OutboxUnavailable | None:
    """The transient refusal a SQLite (or file) error stands for, or None if it is not one."""
    err = _sqlite_error(exc)
    if err is None:
        if isinstance(exc, OSError):
            code = "disk_full" if exc.errno == 28 else "db_unavailable"  # ENOSPC
            return OutboxUnavailable(code, REFUSAL_MESSAGES[code], f"{type(exc).__name__}: {exc.strerror}")
        return None
    if is_corruption(err):
        return None
    primary = getattr(err, "sqlite_errorcode", 0) & 0xFF
    name = getattr(err, "sqlite_errorname", type(err).__name__)
    if primary in _LOCK_CODES:
        code = "db_locked"
    elif primary in _FULL_CODES:
        code = "disk_full"
    elif folder is not None and _free_bytes(folder) < 1024 * 1024:
        code = "disk_full"  # SQLITE_IOERR_SHMSIZE, _WRITE, ... on a disk with no room left
    else:
        code = "db_unavailable"
    return OutboxUnavailable(code, REFUSAL_MESSAGES[code], f"{name}: {err}")


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0
