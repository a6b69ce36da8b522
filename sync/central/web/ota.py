"""Serve release artefacts and large catalogues to kiosks: ``GET /ota/{kind}/{sha256}``.

Files are staged by ``kiosk-central command ... update|catalog`` (``sync.central.commands.stage_file``)
under ``{central home}/ota/{kind}/{sha256}``: content-addressed, so a name is its own integrity check
and nothing an operator uploads can choose a path. No login: kiosks have no dashboard account, and
what is served is not secret (software and a public catalogue); a kiosk trusts a download only after
checking it against the signed command (SHA-256, size, Ed25519 signature).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

OTA_DIR = "ota"
KINDS = ("artifacts", "catalogs")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def staged_path(home: Path, kind: str, sha256_hex: str) -> Path:
    if kind not in KINDS or not _SHA256.match(sha256_hex):
        raise ValueError("not a staged file name")
    return home / OTA_DIR / kind / sha256_hex


def ota_router(home: Path | str) -> APIRouter:
    """The router the dashboard app includes; ``home`` is the central's home folder."""
    root = Path(home)
    router = APIRouter()

    @router.get("/ota/{kind}/{name}", include_in_schema=False)
    def artefact(kind: str, name: str) -> FileResponse:
        try:
            path = staged_path(root, kind, name)
        except ValueError:
            raise HTTPException(status_code=404) from None
        if not path.is_file():
            raise HTTPException(status_code=404)
        return FileResponse(path, media_type="application/octet-stream",
                            headers={"Cache-Control": "public, max-age=31536000, immutable"})

    return router


__all__ = ["KINDS", "OTA_DIR", "ota_router", "staged_path"]
