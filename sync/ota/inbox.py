"""Releases brought on a USB stick: the service mode stages them, the daemon applies them like an update.

The UI (service mode, ``kiosk update-usb``; :mod:`kiosk.service_mode.usb_update`) cannot write the releases,
so it copies the artefact and its signed manifest (what ``packaging/release build`` wrote) into the kiosk's
home::

    {home}/ota-inbox/<artefact>               e.g. street-kiosk-1.4.0.tar.gz
    {home}/ota-inbox/<artefact>.release.json  written last: its presence means the artefact is complete

The daemon (:meth:`sync.ota.manager.OtaManager.watch_inbox`) takes one staged release at a time, when no update
runs, and hands it to the same flow as an update from the central: the pinned release key and the floor, the
signature, size and hash, the space check, unpacking beside the running release, the switch between residents'
sessions and the health gate with rollback. Only the transport differs. The inbox is emptied whatever the
outcome; the outcome is kept in the outbox state ``usb_update`` (for the service screen and ``kiosk status``)
and reported to the central as a ``command_result`` with ``source: usb``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.protocol import commands as proto
from sync.protocol.commands import CommandRefused
from sync.protocol.release import MANIFEST_FORMAT

if TYPE_CHECKING:
    from sync.ota.manager import OtaManager

log = logging.getLogger("kiosk.ota")

INBOX = "ota-inbox"
MANIFEST_SUFFIX = ".release.json"
STATE = "usb_update"


def inbox(home: Path) -> Path:
    return home / INBOX


def staged(home: Path) -> list[Path]:
    folder = inbox(home)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(MANIFEST_SUFFIX) and not p.name.startswith("."))


def args_from(manifest_file: Path) -> dict[str, Any]:
    """The update arguments a manifest gives (checked like a command's), with the local file instead of a URL."""
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError("not a release manifest written by packaging/release")
    wanted = {k: manifest[k] for k in ("version", "sha256", "size", "signature", "key_rotation", "unpacked_size")
              if k in manifest}
    args = proto.validate_args("update", {**wanted, "url": "http://usb.invalid/"})
    args.pop("url")
    args["file"] = str(manifest_file.with_name(manifest_file.name[:-len(MANIFEST_SUFFIX)]))
    return args


def take(manager: OtaManager, home: Path) -> str | None:
    """Start the first staged release if the manager is free; returns its version (None: nothing started)."""
    found = staged(home)
    if not found or manager.busy():
        return None
    manifest_file = found[0]
    artefact = manifest_file.with_name(manifest_file.name[:-len(MANIFEST_SUFFIX)])
    version = "?"
    try:
        args = args_from(manifest_file)
        version = str(args["version"])
        manager.start_update(None, args, source="usb", done=lambda: _clear(manifest_file, artefact))
    except (OSError, ValueError, CommandRefused) as exc:
        detail = exc.message if isinstance(exc, CommandRefused) else str(exc)
        log.warning("USB update %s refused: %s", version, detail)
        manager.outbox.set_states({STATE: json.dumps({"version": version, "ok": False, "reason": "refused",
                                                      "detail": detail[:300], "at": time.time()})})
        manager.report(None, "update", False, proto.REFUSED, detail[:300],
                       {"source": "usb", "to_version": version, "stage": "verify"})
        _clear(manifest_file, artefact)
        return None
    log.info("USB update %s started", version)
    return version


def _clear(manifest_file: Path, artefact: Path) -> None:
    for path in (manifest_file, artefact):
        with contextlib.suppress(OSError):
            path.unlink()


__all__ = ["INBOX", "MANIFEST_SUFFIX", "STATE", "args_from", "inbox", "staged", "take"]
