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
