"""The resident's signature and face check in an admin's audited full view of a submission (issue 20).

The kiosk seals the signature's PNG as one of the submission's attachments (``kind: signature`` in the
fields names its file); the central keeps attachments sealed at rest. Only the full view, after its audit
entry, opens that one file with the central's sealing key and shows it inline (the page's CSP allows
``data:`` images). A file that is missing, does not open, or is no PNG is reported, never shown. The face image
of an item that keeps it (``kind: face_check`` with a ``file``) is opened the same way.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from central import face_result
from central.keys import CentralKeys, KeysError
from central.store import CentralStore
from sync.protocol.sealing import SealError, open_sealed

log = logging.getLogger("central.web")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 2 * 1024 * 1024


def _keys(keys_home: Path, sub: dict[str, Any]) -> CentralKeys | None:
    try:
        return CentralKeys.load(keys_home)
    except (KeysError, OSError) as exc:
        log.error("full view of %s: the sealing key is not at hand: %s", sub.get("id"), type(exc).__name__)
        return None


def _open_png(store: CentralStore, keys: CentralKeys | None, sub: dict[str, Any], f: dict[str, Any]) -> None:
    """Give field ``f`` the PNG its ``file`` names as a ``data:`` URI (``image``), or ``image_error``."""
    f["image"], f["image_error"] = "", ""
    file = f.get("file")
    stored = store.attachment(str(sub["id"]), file) if isinstance(file, int) and not isinstance(file, bool) \
        else None
    if stored is None:
        f["image_error"] = "missing"
        return
    if keys is None:
        f["image_error"] = "no_key"
        return
    try:
        png = open_sealed(keys.seal.private_raw, stored.sealed, f"{sub['id']}/{file}".encode())
    except SealError:
        log.error("full view of %s: %s file %s does not open", sub.get("id"), f.get("kind"), file)
        f["image_error"] = "unreadable"
        return
    if not png.startswith(PNG_MAGIC) or len(png) > MAX_SIGNATURE_BYTES:
        f["image_error"] = "unreadable"
        return
    f["image"] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def open_signatures(store: CentralStore, keys_home: Path, sub: dict[str, Any]) -> None:
    """Give each signature field of ``sub`` (a :func:`queries.submission_full` record) its image as a
    ``data:`` URI (``image``), or ``image_error`` saying why there is none."""
    signatures = [f for f in sub.get("fields", ()) if isinstance(f, dict) and f.get("kind") == "signature"]
    if not signatures:
        return
    keys = _keys(keys_home, sub)
    for f in signatures:
        _open_png(store, keys, sub, f)
        if f["image"]:
            f["strokes"] = len(f.get("vectors", {}).get("strokes", ())) if isinstance(f.get("vectors"), dict) else 0


def open_face_check(store: CentralStore, keys_home: Path, sub: dict[str, Any], lang: str) -> None:
    """Give the 人证核验 field of ``sub`` its result in words (``words``) and, for an item that keeps the face
    image (the field names a ``file``), that image as :func:`open_signatures` does."""
    for f in sub.get("fields", ()):
        if isinstance(f, dict) and f.get("kind") == face_result.KIND:
            f["words"] = face_result.words(f, lang)
            if "file" in f:
                _open_png(store, _keys(keys_home, sub), sub, f)
