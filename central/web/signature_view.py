"""The resident's signature in an admin's audited full view of a submission (issue 20).

The kiosk seals the signature's PNG as one of the submission's attachments (``kind: signature`` in the
fields names its file); the central keeps attachments sealed at rest. Only the full view, after its audit
entry, opens that one file with the central's sealing key and shows it inline (the page's CSP allows
``data:`` images). A file that is missing, does not open, or is no PNG is reported, never shown.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from central.keys import CentralKeys, KeysError
from central.store import CentralStore
from sync.protocol.sealing import SealError, open_sealed

log = logging.getLogger("central.web")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 2 * 1024 * 1024


def open_signatures(store: CentralStore, keys_home: Path, sub: dict[str, Any]) -> None:
    """Give each signature field of ``sub`` (a :func:`queries.submission_full` record) its image as a
    ``data:`` URI (``image``), or ``image_error`` saying why there is none."""
    signatures = [f for f in sub.get("fields", ()) if isinstance(f, dict) and f.get("kind") == "signature"]
    if not signatures:
        return
    try:
        keys: CentralKeys | None = CentralKeys.load(keys_home)
    except (KeysError, OSError) as exc:
        log.error("full view of %s: the sealing key is not at hand: %s", sub.get("id"), type(exc).__name__)
        keys = None
    for f in signatures:
        f["image"], f["image_error"] = "", ""
        file = f.get("file")
        stored = store.attachment(str(sub["id"]), file) if isinstance(file, int) and not isinstance(file, bool) \
            else None
        if stored is None:
            f["image_error"] = "missing"
            continue
        if keys is None:
            f["image_error"] = "no_key"
            continue
        try:
            png = open_sealed(keys.seal.private_raw, stored.sealed, f"{sub['id']}/{file}".encode())
        except SealError:
            log.error("full view of %s: signature file %s does not open", sub.get("id"), file)
            f["image_error"] = "unreadable"
            continue
        if not png.startswith(PNG_MAGIC) or len(png) > MAX_SIGNATURE_BYTES:
            f["image_error"] = "unreadable"
            continue
        f["image"] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        f["strokes"] = len(f.get("vectors", {}).get("strokes", ())) if isinstance(f.get("vectors"), dict) else 0
