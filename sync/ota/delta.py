"""Apply a delta update: rebuild the base release's tar from the installed folder (sync.ota.tarball), check it
is the one the delta was made against, and let zstd (``--patch-from``, the Debian package ``zstd``) make the new
release's tar from it. The caller then checks that tar against the release signature, as a full artefact."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any

from sync.ota.tarball import release_tar
from sync.ota.verify import ReleaseRejected, file_digest

PATCH_TIMEOUT_S = 900.0


def apply_delta(delta: Path, base_dir: Path, spec: dict[str, Any], work: Path) -> Path:
    """Return the new release's tar (in ``work``), or raise :class:`ReleaseRejected`."""
    if not base_dir.is_dir():
        raise ReleaseRejected(f"the delta applies to release {spec['base']}, which is not installed here; "
                              "send the full release")
    base_tar, target = work / f".{spec['base']}.base.tar", work / f"{spec['target_sha256']}.tar"
    try:
        with base_tar.open("wb") as f:
            release_tar(base_dir, f)
        if file_digest(base_tar)[0] != spec["base_sha256"]:
            raise ReleaseRejected(f"installed release {spec['base']} is not the one the delta was made from; "
                                  "send the full release")
        try:
            done = subprocess.run(["zstd", "-q", "-d", "-f", "--long=31", f"--patch-from={base_tar}", str(delta),
                                   "-o", str(target)], capture_output=True, timeout=PATCH_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReleaseRejected(f"the delta could not be applied: {type(exc).__name__}") from None
        if done.returncode != 0:
            target.unlink(missing_ok=True)
            raise ReleaseRejected("the delta could not be applied (zstd failed: corrupt or not for this base)")
    finally:
        with contextlib.suppress(OSError):
            base_tar.unlink()
    return target


__all__ = ["apply_delta"]
