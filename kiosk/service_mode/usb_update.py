"""The USB path (issue 17): a technician brings a signed release on a USB stick and applies it in service mode.

The stick holds what ``packaging/release build`` wrote: ``street-kiosk-<version>.tar.gz`` and its
``.release.json`` manifest. :func:`find_releases` looks for them on the mounted sticks, :func:`stage` copies the
chosen one into the kiosk's home (``ota-inbox/``, manifest last), and the sync daemon applies it exactly as an
update from the central (:mod:`sync.ota.inbox`): pinned release key, floor, hash and size, space check, switch
between sessions, health gate and rollback. Nothing here trusts the stick: a forged or damaged release is
refused by the daemon and the outcome shows in ``usb_update`` (``kiosk status --json``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sync.ota.inbox import MANIFEST_SUFFIX, STATE, inbox

MOUNT_ROOTS = (Path("/media"), Path("/run/media"), Path("/mnt"))


@dataclass(frozen=True)
class UsbRelease:
    version: str
    artefact: Path
    manifest: Path
    size: int


def find_releases(roots: tuple[Path, ...] = MOUNT_ROOTS, depth: int = 3) -> list[UsbRelease]:
    """Signed releases on the mounted sticks (a few folders deep), newest version name last."""
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        for manifest in _walk(root, depth):
            artefact = manifest.with_name(manifest.name[:-len(MANIFEST_SUFFIX)])
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
                version, size = str(data["version"]), int(data["size"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if artefact.is_file():
                found.append(UsbRelease(version, artefact, manifest, size))
    return sorted(found, key=lambda r: r.version)


def _walk(root: Path, depth: int) -> list[Path]:
    out: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return out
    for entry in entries:
        if entry.is_file() and entry.name.endswith(MANIFEST_SUFFIX):
            out.append(entry)
        elif entry.is_dir() and depth > 0 and not entry.is_symlink():
            out.extend(_walk(entry, depth - 1))
    return out


def stage(home: Path, release: UsbRelease) -> Path:
    """Copy the release into the daemon's inbox; the manifest goes last (its presence means complete)."""
    folder = inbox(home)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < release.size + 32 * 1024**2:
        raise OSError(f"not enough room in the kiosk's data folder to copy the release ({free // 2**20} MiB free)")
    target = folder / release.artefact.name
    tmp = folder / f".{release.artefact.name}.part"
    shutil.copyfile(release.artefact, tmp)
    os.replace(tmp, target)
    manifest_tmp = folder / f".{release.manifest.name}.part"
    shutil.copyfile(release.manifest, manifest_tmp)
    os.replace(manifest_tmp, folder / release.manifest.name)
    return target


__all__ = ["MOUNT_ROOTS", "STATE", "UsbRelease", "find_releases", "stage"]
