"""Room kept for the sync daemon on a disk that fills up.

``kiosk-syncd`` holds a file of real, allocated blocks (``{home}/disk-reserve.bin``). When a write fails
because the disk is full (SQLite's "database or disk is full", an I/O error with no room left, ENOSPC), the
daemon deletes it: the space it frees lets the daemon go on recording deliveries and acks, writing its
state and heartbeats, and so empty the queue, which is what frees the disk in the end. The UI refuses new
submissions long before (``Limits.min_free_bytes``), so only the daemon's small writes use that room. The
reserve is made again once the disk has room for it and a margin.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("kiosk.syncd")

RESERVE_FILE = "disk-reserve.bin"
RESERVE_BYTES = 64 * 1024 * 1024


class DiskReserve:
    def __init__(self, home: Path, size: int = RESERVE_BYTES) -> None:
        self.path = home / RESERVE_FILE
        self.size = size
        self.released = False  # True after a release, until the reserve is made again

    @property
    def state(self) -> str:
        """``held``, ``released`` (given up to a full disk) or ``none`` (never made: no room for it)."""
        if self.path.exists():
            return "held"
        return "released" if self.released else "none"

    def ensure(self) -> bool:
        """Make the reserve if it is missing and the disk has room for it twice over; True if it is held."""
        try:
            if self.path.exists() and self.path.stat().st_size >= self.size:
                return True
            if shutil.disk_usage(self.path.parent).free < 2 * self.size:
                return False
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                try:
                    os.posix_fallocate(fd, 0, self.size)  # real blocks, not a sparse file
                except OSError:
                    os.ftruncate(fd, 0)
                    block = b"\0" * (1024 * 1024)
                    for offset in range(0, self.size, len(block)):
                        os.write(fd, block[: self.size - offset])
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not make the disk reserve: %s", type(exc).__name__)
            self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)
            return False
        if self.released:
            log.info("the disk has room again: the reserve of %d bytes is held again", self.size)
        self.released = False
        return True

    def release(self) -> bool:
        """Free the reserve for the daemon's own writes; True if there was one to free."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.error("could not release the disk reserve: %s", type(exc).__name__)
            return False
        self.released = True
        log.error("the disk is full: released the reserve of %d bytes to keep delivering", self.size)
        return True
