"""Enrolment at the central: issue one-time expiring tokens (text and QR), accept each once."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.central.keys import CentralKeys
from sync.central.models import DeviceKey, EnrolmentToken
from sync.central.status_push import site_lookup_key
from sync.central.store import CentralStore
from sync.protocol.enrolment import TokenBody, make_token
from sync.protocol.ids import new_message_id

DEFAULT_TTL_S = 24 * 3600


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    device_id: str
    site: str
    expires_at: float


def new_device_id(site: str) -> str:
    return "kiosk-" + secrets.token_hex(4)


def issue_token(store: CentralStore, keys: CentralKeys, *, site: str, broker_url: str,
                ttl_s: float = DEFAULT_TTL_S, device_id: str | None = None, now: float | None = None,
                enrol_url: str = "") -> IssuedToken:
    """``enrol_url``: the broker's enrolment listener, for a TLS fleet (``mqtts://`` broker URL), where the
    kiosk gets its client certificate (sync.central.cert_service)."""
    now = time.time() if now is None else now
    device_id = device_id or new_device_id(site)
    secret = secrets.token_urlsafe(24)
    body = TokenBody(tid=new_message_id(), device_id=device_id, site=site, broker_url=broker_url, secret=secret,
                     seal_key=base64.b64encode(keys.seal.public_raw).decode(),
                     command_key=base64.b64encode(keys.command_public_raw).decode(), iat=now, exp=now + ttl_s,
                     lookup_key=base64.b64encode(site_lookup_key(keys, site)).decode(), enrol_url=enrol_url)
    with store.session() as s, s.begin():
        s.add(EnrolmentToken(id=body.tid, device_id=device_id, site=site, created_at=now, expires_at=body.exp,
                             used_at=None, secret_sha256=hashlib.sha256(secret.encode()).hexdigest()))
    return IssuedToken(make_token(keys.command_private_raw, body), body.tid, device_id, site, body.exp)


def save_qr(token: str, path: Path) -> Path:
    """The token as a QR PNG for the technician to scan with the kiosk's camera."""
    segno.make(token, error="m", micro=False).save(str(path), kind="png", scale=6, border=4)
    return path


class EnrolmentRefused(ValueError):
    pass


def accept(s: Session, device_id: str, meta: dict[str, Any], now: float) -> None:
    """Accept a kiosk's enrolment event once; raise EnrolmentRefused(reason) otherwise."""
    token = s.get(EnrolmentToken, str(meta.get("token_id", "")))
    if token is None:
        raise EnrolmentRefused("token_unknown")
    if token.device_id != device_id:
        raise EnrolmentRefused("token_for_another_device")
    if token.used_at is not None:
        raise EnrolmentRefused("token_reused")
    if now > token.expires_at:
        raise EnrolmentRefused("token_expired")
    key = str(meta.get("device_public_key", ""))
    try:
        if len(base64.b64decode(key, validate=True)) != 32:
            raise ValueError("length")
    except ValueError as exc:
        raise EnrolmentRefused("bad_device_key") from exc
    token.used_at = now
    s.merge(DeviceKey(device_id=device_id, public_key=key, enrolled_at=now, token_id=token.id))


def list_tokens(store: CentralStore) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.scalars(select(EnrolmentToken).order_by(EnrolmentToken.created_at.desc())).all()
        return [{"token_id": t.id, "device_id": t.device_id, "site": t.site, "created_at": t.created_at,
                 "expires_at": t.expires_at, "used_at": t.used_at} for t in rows]


def device_key(store: CentralStore, device_id: str) -> str | None:
    with store.session() as s:
        row = s.get(DeviceKey, device_id)
        return row.public_key if row else None
