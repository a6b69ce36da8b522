"""Enrolment at the central: issue one-time expiring tokens (text and QR), accept each once."""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import segno
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central.fleet_models import Alarm
from central.keys import CentralKeys, site_lookup_key
from central.models import Device, DeviceKey, EnrolmentToken
from sync.protocol.broker_url import BrokerUrlError, parse_broker_url
from sync.protocol.commands import MAX_SITE_CHARS
from sync.protocol.enrolment import TokenBody, check_enrol_event_proof, make_token
from sync.protocol.ids import device_short, new_message_id
from sync.protocol.topics import TopicError, check_device_id

if TYPE_CHECKING:  # the store applies enrolment events (central.store -> here): a type only, no cycle
    from central.store import CentralStore

DEFAULT_TTL_S = 24 * 3600
log = logging.getLogger("kiosk.central")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    device_id: str
    site: str
    expires_at: float


def new_device_id(site: str) -> str:
    return "kiosk-" + secrets.token_hex(4)


class TokenRequestError(ValueError):
    """A token that must not be issued (a bad device id, site or URL, a device id already issued); the
    message says which and why, for the operator."""


def check_token_request(*, site: str, broker_url: str, device_id: str | None, enrol_url: str = "",
                        ttl_s: float = DEFAULT_TTL_S) -> None:
    """What the kiosk will check when it reads the token, checked before it is issued: the device id by the
    kiosk's own rule (the one every topic and the token reader apply), the site within what the central
    stores and commands target, the URLs in the form the kiosk connects to."""
    if device_id is not None:
        try:
            check_device_id(device_id)
        except TopicError as exc:
            raise TokenRequestError(f"device id {device_id[:80]!r}: {exc}") from None
    if not site.strip() or len(site) > MAX_SITE_CHARS or not site.isprintable():
        raise TokenRequestError(f"site must be 1-{MAX_SITE_CHARS} printable characters on one line "
                                f"(got {len(site)})")
    for what, url in (("broker URL", broker_url), ("enrol URL", enrol_url)):
        if url or what == "broker URL":
            try:
                parse_broker_url(url)
            except BrokerUrlError as exc:
                raise TokenRequestError(f"{what} {url[:200]!r}: {exc}") from None
    if not math.isfinite(ttl_s):
        raise TokenRequestError("ttl must be a finite number of seconds")


def _receipt_codes_in_use(store: CentralStore) -> dict[str, str]:
    """The receipt code (sync.protocol.ids.device_short) of every device id the central knows, issued or
    enrolled: receipt numbers carry only these four characters of the device, so two kiosks that shared them
    could hand out the same number."""
    with store.session() as s:
        ids = set(s.scalars(select(EnrolmentToken.device_id))) | set(s.scalars(select(Device.device_id)))
    return {device_short(i): i for i in sorted(ids)}


def _check_receipt_code_free(store: CentralStore, device_id: str) -> None:
    holder = _receipt_codes_in_use(store).get(device_short(device_id))
    if holder is not None and holder != device_id:
        raise TokenRequestError(
            f"device id {device_id!r} ends in the same four characters ({device_short(device_id)}) as "
            f"{holder!r}: receipt numbers carry only those, so two kiosks would issue the same numbers; "
            "choose an id that ends differently")


def _free_device_id(store: CentralStore, site: str) -> str:
    in_use = _receipt_codes_in_use(store)
    for _ in range(1000):
        candidate = new_device_id(site)
        if device_short(candidate) not in in_use:
            return candidate
    raise TokenRequestError("no free receipt code left for a generated device id; choose one with --device-id")


def issue_token(store: CentralStore, keys: CentralKeys, *, site: str, broker_url: str,
                ttl_s: float = DEFAULT_TTL_S, device_id: str | None = None, now: float | None = None,
                enrol_url: str = "") -> IssuedToken:
    """``enrol_url``: the broker's enrolment listener, for a TLS fleet (``mqtts://`` broker URL), where the
    kiosk gets its client certificate (central.cert_service). Raises :class:`TokenRequestError` for
    input the kiosk would refuse and for a device id that already has a token."""
    check_token_request(site=site, broker_url=broker_url, device_id=device_id, enrol_url=enrol_url, ttl_s=ttl_s)
    now = time.time() if now is None else now
    if device_id is None:
        device_id = _free_device_id(store, site)
    else:
        _check_receipt_code_free(store, device_id)
    secret = secrets.token_urlsafe(24)
    body = TokenBody(tid=new_message_id(), device_id=device_id, site=site, broker_url=broker_url, secret=secret,
                     seal_key=base64.b64encode(keys.seal.public_raw).decode(),
                     command_key=base64.b64encode(keys.command_public_raw).decode(), iat=now, exp=now + ttl_s,
                     lookup_key=base64.b64encode(site_lookup_key(keys, site)).decode(), enrol_url=enrol_url)
    already = TokenRequestError(f"device id {device_id!r} already has an enrolment token (see kiosk-central "
                                "enroll --list); choose another id")
    try:
        with store.session() as s, s.begin():
            if s.scalar(select(EnrolmentToken.id).where(EnrolmentToken.device_id == device_id)) is not None:
                raise already
            s.add(EnrolmentToken(id=body.tid, device_id=device_id, site=site, created_at=now, expires_at=body.exp,
                                 used_at=None, secret_sha256=hashlib.sha256(secret.encode()).hexdigest()))
    except IntegrityError:  # issued by another process between the check and the insert
        raise already from None
    return IssuedToken(make_token(keys.command_private_raw, body), body.tid, device_id, site, body.exp)


def save_qr(token: str, path: Path) -> Path:
    """The token as a QR PNG for the technician to scan with the kiosk's camera."""
    segno.make(token, error="m", micro=False).save(str(path), kind="png", scale=6, border=4)
    return path


class EnrolmentRefused(ValueError):
    pass


def accept(s: Session, device_id: str, meta: dict[str, Any], now: float, *, proven: bool = False) -> None:
    """Accept a kiosk's enrolment once; raise EnrolmentRefused(reason) otherwise.

    Every enrolment proves the token's secret: an ``enrol`` event carries ``meta["proof"]``
    (``sync.protocol.enrolment.enrol_event_proof``); the TLS path checks its request's own proof first and
    passes ``proven=True``. A refused proof leaves the token unspent, so a stranger who knows the token id
    and device id (what the dashboard shows) can neither enrol nor lock the real kiosk out."""
    token = s.get(EnrolmentToken, str(meta.get("token_id", "")))
    if token is None:
        raise EnrolmentRefused("token_unknown")
    if token.device_id != device_id:
        raise EnrolmentRefused("token_for_another_device")
    if not proven and not check_enrol_event_proof(token.secret_sha256, device_id, token.id,
                                                  str(meta.get("device_public_key", "")), meta.get("proof")):
        raise EnrolmentRefused("bad_proof")
    if token.used_at is not None:
        raise EnrolmentRefused("token_reused")
    if token.revoked_at is not None:
        raise EnrolmentRefused("token_revoked")
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
    retire(s, device_id, token.id, meta, now)


def retire(s: Session, new_device_id: str, token_id: str, meta: dict[str, Any], now: float) -> bool:
    """A re-enrolling kiosk hands its old identity over (``meta["retires"]``, signed with the old device key
    over sync.protocol.enrolment.retirement_bytes). Checked against the old id's enrolled key, the old id is
    retired: its open alarms close, it is never judged offline again and its late statuses change nothing.
    A missing or wrong signature retires nothing (and refuses nothing: the token proved the new enrolment)."""
    old = meta.get("retires")
    if not isinstance(old, str) or not old or old == new_device_id:
        return False
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from central.alarms import close_alarm
    from sync.protocol.enrolment import retirement_bytes

    row = s.get(DeviceKey, old)
    sig = meta.get("retire_sig")
    try:
        if row is None or not isinstance(sig, str):
            raise ValueError("no key or no signature")
        Ed25519PublicKey.from_public_bytes(base64.b64decode(row.public_key)).verify(
            base64.b64decode(sig, validate=True), retirement_bytes(old, new_device_id, token_id))
    except (ValueError, InvalidSignature):
        log.warning("%s names %s as its former identity without a valid hand-over: nothing retired",
                    new_device_id, old[:64])
        return False
    device = s.get(Device, old)
    if device is None:
        device = Device(device_id=old, site="", status=RETIRED, conn=0, status_at=now, last_seen=0.0, version="",
                        telemetry_json="{}")
        s.add(device)
    device.status = RETIRED
    device.status_at = now
    for code in s.scalars(select(Alarm.code).where(Alarm.device_id == old, Alarm.cleared_at.is_(None))).all():
        close_alarm(s, old, code, now, by="retired")
    log.info("%s retired: re-enrolled as %s", old, new_device_id)
    return True


RETIRED = "retired"  # Device.status of an identity a re-enrolment retired (fleet: no offline alarm, no state)


def token_state(t: EnrolmentToken, now: float) -> str:
    if t.used_at:
        return "used"
    if t.revoked_at:
        return "revoked"
    return "expired" if now > t.expires_at else "open"


def list_tokens(store: CentralStore) -> list[dict[str, Any]]:
    """What may be shown of each token: never the token, its secret or anything that enrols."""
    with store.session() as s:
        rows = s.scalars(select(EnrolmentToken).order_by(EnrolmentToken.created_at.desc())).all()
        now = time.time()
        return [{"token_id": t.id, "device_id": t.device_id, "site": t.site, "created_at": t.created_at,
                 "expires_at": t.expires_at, "used_at": t.used_at,
                 "state": token_state(t, now)} for t in rows]


def revoke_token(store: CentralStore, token_id: str, now: float | None = None) -> dict[str, Any]:
    """Withdraw a token no kiosk has used yet: an enrolment with it is refused (``token_revoked``).
    Raises :class:`TokenRequestError` for an unknown, used or already revoked token."""
    now = time.time() if now is None else now
    with store.session() as s, s.begin():
        t = s.get(EnrolmentToken, token_id, with_for_update=True)
        if t is None:
            raise TokenRequestError("no such enrolment token")
        if t.used_at is not None:
            raise TokenRequestError(f"the token of {t.device_id} was used already: revoke the kiosk instead")
        if t.revoked_at is not None:
            raise TokenRequestError(f"the token of {t.device_id} is revoked already")
        t.revoked_at = now
        return {"token_id": t.id, "device_id": t.device_id, "site": t.site}


def qr_data_uri(token: str) -> str:
    """The token as a PNG QR code in a ``data:`` URI, drawn here (the dashboard's CSP allows data: images,
    nothing from elsewhere): the same symbol ``save_qr`` writes for the CLI, for the kiosk's scanner."""
    return str(segno.make(token, error="m", micro=False).png_data_uri(scale=6, border=4))


def device_key(store: CentralStore, device_id: str) -> str | None:
    with store.session() as s:
        row = s.get(DeviceKey, device_id)
        return row.public_key if row else None
