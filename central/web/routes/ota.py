"""Serve release artefacts and large catalogues to kiosks: ``GET /ota/{kind}/{sha256}``.

Files are staged by ``kiosk-central command ... update|catalog`` (``central.staging.stage_file``)
under ``{central home}/ota/{kind}/{sha256}``: content-addressed, so a name is its own integrity check
and nothing an operator uploads can choose a path. No login: kiosks have no dashboard account, and
what is served is not secret (software and a public catalogue); a kiosk trusts a download only after
checking it against the signed command (SHA-256, size, Ed25519 signature).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from central.staging import staged_path
from central.web.deps import Web

router = APIRouter()


@router.get("/ota/{kind}/{name}", include_in_schema=False)
def artefact(kind: str, name: str, web: Web) -> FileResponse:
    try:
        path = staged_path(web.keys_home, kind, name)
    except ValueError:
        raise HTTPException(status_code=404) from None
    if not path.is_file():
        raise HTTPException(status_code=404)
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})
