"""Published releases: what an admin may roll out from the dashboard.

``packaging/release`` builds and signs a release offline; the operator carries the artefact and its manifest
(``ARTIFACT.release.json``) to the central and puts both in ``{central home}/releases/``. A release is listed
when its manifest is one ``packaging/release`` wrote and its artefact is beside it; the dashboard offers these by
file name (never a path from the browser), and ``update_args_for`` builds the signed ``update`` arguments exactly
as ``kiosk-central rollout --artifact`` does (``central.commands.update_args``: staged, hash and size checked
against the manifest; the central signs nothing of the release itself)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.protocol.release import MANIFEST_FORMAT

RELEASES_DIR = "releases"
MANIFEST_SUFFIX = ".release.json"
MAX_MANIFEST_BYTES = 64 * 1024
MAX_LISTED = 50


@dataclass(frozen=True)
class Release:
    name: str  # the artefact's file name in the releases folder
    version: str
    kind: str  # full / delta
    base: str  # the release a delta applies to ("" for a full one)
    size: int  # bytes sent to a kiosk (the delta's own size for a delta)
    published_at: float  # the manifest's modification time

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind, "base": self.base, "size": self.size,
                "published_at": self.published_at}


def folder(home: Path) -> Path:
    return home / RELEASES_DIR


def _read(manifest_file: Path) -> Release | None:
    name = manifest_file.name[:-len(MANIFEST_SUFFIX)]
    artefact = manifest_file.with_name(name)
    try:
        if not name or not artefact.is_file() or manifest_file.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        published_at = manifest_file.stat().st_mtime
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or not manifest.get("signature"):
        return None
    version = manifest.get("version")
    delta = manifest.get("kind") == "delta"
    size = manifest.get("delta_size" if delta else "size")
    if not isinstance(version, str) or not version or not isinstance(size, int):
        return None
    return Release(name=name, version=version[:64], kind="delta" if delta else "full",
                   base=str(manifest.get("base") or "")[:64] if delta else "", size=size, published_at=published_at)


def published(home: Path) -> list[Release]:
    """The releases in ``{home}/releases`` with their artefact beside them, newest first (at most 50)."""
    try:
        manifests = [p for p in folder(home).iterdir() if p.name.endswith(MANIFEST_SUFFIX) and p.is_file()]
    except OSError:
        return []
    found = [r for r in map(_read, manifests) if r is not None]
    return sorted(found, key=lambda r: (-r.published_at, r.name))[:MAX_LISTED]


def find(home: Path, name: str) -> Release:
    """The published release whose artefact is ``name``; ValueError if there is none."""
    for r in published(home):
        if r.name == name:
            return r
    raise ValueError("no such published release (its artefact and manifest go in the central's releases folder)")


def update_args_for(home: Path, name: str, base_url: str) -> tuple[str, dict[str, Any]]:
    """The version and the ``update`` command's arguments of the published release ``name`` (staged for
    download from ``base_url``); ValueError says what is wrong."""
    from central.commands import update_args

    release = find(home, name)
    if not base_url.strip():
        raise ValueError("the address kiosks download from is needed (e.g. https://central.example:8443)")
    artefact = folder(home) / release.name
    manifest = json.loads((folder(home) / (release.name + MANIFEST_SUFFIX)).read_text(encoding="utf-8"))
    return release.version, update_args(home, release.version, artefact, base_url=base_url.strip(),
                                        manifest=manifest)
