"""A release folder as a tar, byte for byte the same wherever it is made: the full artefact's contents
(``packaging/release build``) and, on a kiosk, the base a delta update is patched against (sync.ota.delta).

Members sorted by path; owners 0 with no names; one time for every member, the release's ``VERSION`` file's
(the build stamps every file with ``SOURCE_DATE_EPOCH``, and unpacking keeps it); files 0755 when executable,
else 0644; folders 0755. The health mark the kiosk writes is left out. So the tar of an installed release is
the tar it was installed from.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import IO

SKIP = {".healthy"}


def tar_mtime(folder: Path) -> int:
    return int((folder / "VERSION").stat().st_mtime)


def release_tar(folder: Path, out: IO[bytes]) -> int:
    """Write ``folder`` as a tar to ``out``; return the size of its files (what it unpacks to)."""
    mtime = tar_mtime(folder)
    unpacked = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            if path.name in SKIP:
                continue
            info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = mtime
            if info.isreg():
                info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                unpacked += info.size
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                info.mode = 0o755 if info.isdir() else info.mode
                tar.addfile(info)
    return unpacked


__all__ = ["SKIP", "release_tar", "tar_mtime"]
