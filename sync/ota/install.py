"""Unpack a verified release next to the running one (``releases/<version>/``), never over it.

Only a ``.tar.gz`` (or plain ``.tar``) is accepted, extracted with tarfile's ``data`` filter: no
absolute paths, no ``..``, no links pointing outside, no devices, no set-uid bits. Members go into a
hidden temporary folder that is renamed into place only when complete, so a power cut leaves either no
release or a whole one. If the archive carries a top-level ``VERSION`` file it must name the version
the signed command announced.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from sync.runtime.files import fsync_dir

VERSION_FILE = "VERSION"
MAX_MEMBERS = 100_000
MAX_UNPACKED_BYTES = 8 * 1024**3


class InstallError(RuntimeError):
    """The release could not be unpacked; nothing was left in ``releases/``."""




SPACE_MARGIN = 32 * 1024**2  # left free after an update for the outbox and the logs


def check_space(folder: Path, needed: int, margin: int = SPACE_MARGIN) -> None:
    """Refuse (before writing anything) when ``needed`` bytes and the margin are not free under ``folder``."""
    free = shutil.disk_usage(folder).free
    if free < needed + margin:
        raise InstallError(f"not enough disk space: the update needs {_mib(needed + margin)} MiB, "
                           f"{_mib(free)} MiB are free")


def _mib(n: int) -> str:
    return f"{n / 1024**2:.1f}"


def unpack_release(archive: Path, releases_dir: Path, version: str, *, margin: int = SPACE_MARGIN) -> Path:
    """Extract ``archive`` into ``releases_dir/version`` and return that folder.

    An existing folder of that version is replaced only if it is not the one ``current`` points at
    (the caller refuses to reinstall the running version).
    """
    releases_dir.mkdir(parents=True, exist_ok=True)
    final = releases_dir / version
    work = releases_dir / f".{version}.unpacking"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                if len(members) > MAX_MEMBERS:
                    raise InstallError(f"the archive has more than {MAX_MEMBERS} members")
                unpacked = sum(m.size for m in members if m.isfile())
                if unpacked > MAX_UNPACKED_BYTES:
                    raise InstallError("the archive unpacks to more than the allowed size")
                check_space(releases_dir, unpacked, margin)
                tar.extractall(work, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InstallError(f"the artefact is not a release archive that can be unpacked: "
                               f"{type(exc).__name__}") from None
        marker = work / VERSION_FILE
        if marker.is_file():
            named = marker.read_text(encoding="utf-8", errors="replace").strip()
            if named != version:
                raise InstallError("the release's VERSION file names another version than the command")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
        fsync_dir(releases_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


__all__ = ["SPACE_MARGIN", "VERSION_FILE", "InstallError", "check_space", "unpack_release"]
