"""Writing a file so that a crash leaves the old content or the new, never half of either.

Secrets, configuration, update state and exports all need the same steps: a temporary file created 0600
(never readable by others, not even for a moment), flushed and fsynced, renamed over the target, and the
folder fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_private(path: Path, data: bytes | str) -> Path:
    """Replace ``path`` atomically with ``data`` (str is written as UTF-8); the file is 0600."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an old temp file may have had another mode
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


# -- modes that do not depend on the umask --------------------------------------------------------------------

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) as a folder only its owner can enter, whatever the umask. A folder
    that exists already loses what others may do (0755 becomes 0750); its group is the operator's choice
    (the package installs the kiosk home 0750 for the kiosk group)."""
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o007:
            os.chmod(path, mode & 0o770)
    else:
        os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode went through the umask
    return path


def private_database(path: Path) -> Path:
    """Make the SQLite database at ``path`` 0600 before SQLite opens it: created empty 0600 if missing (SQLite
    takes an empty file as a new database, and creates its -wal and -shm files with the database file's
    mode), and an existing one with its side files tightened to 0600 (older versions left them 0644). A
    missing folder is left to SQLite to report, as before.

    An existing database is never opened here, only chmod-ed by name: closing any descriptor of a file drops
    every POSIX lock this process holds on it, SQLite's included, and another process then takes itself for
    the last connection and checkpoints and deletes the WAL still in use (sqlite.org/howtocorrupt.html 2.2)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        with contextlib.suppress(OSError):  # a file of another owner: not ours to change
            os.chmod(path, PRIVATE_FILE_MODE)
    except OSError:  # no such folder, or not ours to open: SQLite says so in its own words
        return path
    else:
        try:
            with contextlib.suppress(OSError):
                os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have taken bits away
        finally:
            os.close(fd)  # a new, empty file: no connection of this process holds a lock on it yet
    for suffix in SQLITE_SIDE_FILES:
        with contextlib.suppress(OSError):
            os.chmod(path.with_name(path.name + suffix), PRIVATE_FILE_MODE)
    return path
