"""Files the central serves to kiosks over HTTP (``central.web.routes.ota``): release artefacts and catalogues too
large for one command, staged by ``kiosk-central command ... update|catalog`` under
``{central home}/ota/{kind}/{sha256}``. Content-addressed, so a name is its own integrity check and nothing an
operator uploads can choose a path."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

OTA_DIR = "ota"
KINDS = ("artifacts", "catalogs")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def staged_path(home: Path, kind: str, sha256_hex: str) -> Path:
    if kind not in KINDS or not _SHA256.match(sha256_hex):
        raise ValueError("not a staged file name")
    return home / OTA_DIR / kind / sha256_hex


def stage_file(home: Path, kind: str, source: Path | bytes) -> tuple[str, int]:
    """Copy an artefact (``kind`` ``artifacts``) or a catalogue (``catalogs``) where the central's HTTP
    server serves it (``central.web.routes.ota``): content-addressed by SHA-256. Returns (sha256, size)."""
    folder = home / OTA_DIR / kind
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".staging.", dir=folder)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, bytes):
                h.update(source)
                out.write(source)
                size = len(source)
            else:
                with source.open("rb") as f:
                    while chunk := f.read(1024 * 1024):
                        h.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, staged_path(home, kind, h.hexdigest()))
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return h.hexdigest(), size
