"""Provisioning a kiosk from the central's enrolment token (typed, scanned, or ``kiosk provision``).

The kiosk checks the token (form, signature, expiry, and a pinned central key when one is installed),
generates its own Ed25519 key pair, stores its secrets (folder 0700, files 0600) and its device
configuration, sends its enrolment to the central, and reports success only when the central confirms
(acks the enrolment). A refused enrolment rolls everything back.
"""

from __future__ import annotations

import base64
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete
from sqlalchemy.orm import Session

from kiosk.service_mode.network import explain_connect_error
from kiosk.service_mode.sync_control import ExternalSync, SyncControl
from sync.daemon.enrol import deliver_enrolment, enrol_over_tls
from sync.device import DEVICE_FILE, FLEET_CA_FILE, TLS_IDENTITY_FILE, DeviceConfig, DeviceConfigError
from sync.outbox.models import OutboxMessage, State, TelemetryQueued
from sync.outbox.store import Outbox, open_outbox
from sync.protocol.broker_url import uses_tls
from sync.protocol.enrolment import (
    EnrolmentError,
    TokenBody,
    enrol_event_proof,
    read_token,
    retirement_bytes,
    secret_hash,
)
from sync.protocol.signing import DeviceSigner, SignatureError
from sync.runtime.files import write_private

SECRETS_DIR = "secrets"
PINNED_KEY_FILES = (Path("/etc/kiosk/central-command.pub"),)


@dataclass(frozen=True)
class ProvisionResult:
    ok: bool
    code: str  # enrolled | pending | unreachable | a refusal code
    message: str  # Chinese, for the technician's screen
    device_id: str | None = None
    site: str = ""
    connect_error: dict[str, Any] | None = None  # unreachable: host, port, tls, error, detail, at


def pinned_command_key(home: Path) -> bytes | None:
    for path in (home / "central-command.pub", *PINNED_KEY_FILES):
        if path.exists():
            return base64.b64decode(path.read_text().strip())
    return None


ENROL_PENDING_STATE = "enrol_pending"  # the enrol row of an enrolment the central has not answered yet
IDENTITY_FILES = (DEVICE_FILE, f"{SECRETS_DIR}/device_key", f"{SECRETS_DIR}/broker_secret",
                  f"{SECRETS_DIR}/lookup_key", f"{SECRETS_DIR}/{TLS_IDENTITY_FILE}", f"{SECRETS_DIR}/{FLEET_CA_FILE}")


def _undelivered_rows(outbox: Outbox) -> int:
    counts = outbox.counts()
    return counts[State.PENDING] + counts[State.SENT]


def undelivered(home: Path) -> int:
    if not (home / "outbox.db").exists():
        return 0
    outbox = open_outbox(home, None)
    try:
        drop_unconfirmed_enrolment(outbox)
        return _undelivered_rows(outbox)
    finally:
        outbox.close()


def drop_unconfirmed_enrolment(outbox: Outbox) -> bool:
    """An enrolment the central never answered (a wrong broker address, no network) is not data of a
    resident: it must not block the next try. Its row goes; True if there was one."""
    message_id = outbox.states().get(ENROL_PENDING_STATE) or ""
    if not message_id:
        return False
    row = outbox.find(message_id)
    if row is not None and row.state in (State.PENDING, State.SENT):
        with Session(outbox.engine) as s, s.begin():
            s.execute(delete(OutboxMessage).where(OutboxMessage.id == message_id))
    outbox.set_states({ENROL_PENDING_STATE: ""})
    return row is not None


def _drop_heartbeats(outbox: Outbox) -> None:
    """Heartbeats are figures of the moment, signed for the identity that queued them: gone with it."""
    with Session(outbox.engine) as s, s.begin():
        s.execute(delete(TelemetryQueued))


def _snapshot(home: Path) -> dict[str, bytes]:
    out = {}
    for name in IDENTITY_FILES:
        with contextlib.suppress(OSError):
            out[name] = (home / name).read_bytes()
    return out


def _restore(home: Path, saved: dict[str, bytes]) -> None:
    """Put the identity back as it was before this enrolment (none at first run). The service PIN, its
    lock-out state and everything else in the secrets folder stay as they are."""
    for name in IDENTITY_FILES:
        path = home / name
        if name in saved:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            write_private(path, saved[name])
        else:
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # first run, refused: no secrets folder is left behind (a PIN keeps it)
        (home / SECRETS_DIR).rmdir()


def _store_identity(home: Path, body: TokenBody) -> tuple[DeviceConfig, str]:
    secrets_dir = home / SECRETS_DIR
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    key = Ed25519PrivateKey.generate()
    write_private(secrets_dir / "device_key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    write_private(secrets_dir / "broker_secret", body.secret.encode())
    if body.lookup_key:  # the site's key for the residents' status lookup (kiosk.journey.status)
        write_private(secrets_dir / "lookup_key", body.lookup_key.encode())
    else:
        (secrets_dir / "lookup_key").unlink(missing_ok=True)
    for stale in (TLS_IDENTITY_FILE, FLEET_CA_FILE):  # another fleet's TLS identity never carries over
        (secrets_dir / stale).unlink(missing_ok=True)
    public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)).decode()
    device = DeviceConfig(body.device_id, body.site, body.broker_url, body.seal_key, body.command_key)
    device.save(home)
    os.chmod(home / DEVICE_FILE, 0o600)
    return device, public


def _retirement(saved: dict[str, bytes], old: DeviceConfig | None, body: TokenBody) -> dict[str, str]:
    """The old identity's signed hand-over to the new one (sync.protocol.enrolment.retirement_bytes)."""
    pem = saved.get(f"{SECRETS_DIR}/device_key")
    if old is None or pem is None or old.device_id == body.device_id:
        return {}
    try:
        signer = DeviceSigner.from_pem(pem)
    except SignatureError:
        return {}
    sig = signer.sign_bytes(retirement_bytes(old.device_id, body.device_id, body.tid))
    return {"retires": old.device_id, "retire_sig": base64.b64encode(sig).decode()}


def provision(home: Path, token_text: str, *, timeout_s: float = 60.0, now: float | None = None,
              sync: SyncControl | None = None, outbox: Outbox | None = None) -> ProvisionResult:
    """Enrol this kiosk: one action that holds the sync daemon, replaces the identity, has the central
    confirm it, and lets the daemon go on under the new identity (or the old one, restored, when the central
    refuses or cannot be reached). ``sync`` defaults to a ``kiosk-syncd`` run by systemd."""
    try:
        body = read_token(token_text, now=now, pinned_command_key=pinned_command_key(home))
    except EnrolmentError as exc:
        return ProvisionResult(False, exc.code, exc.message)
    try:
        old: DeviceConfig | None = DeviceConfig.load(home)
    except DeviceConfigError:
        old = None
    own = outbox is None
    ob = outbox if outbox is not None else open_outbox(home, None)
    control: SyncControl = sync if sync is not None else ExternalSync()
    try:
        drop_unconfirmed_enrolment(ob)
        if old is not None and _undelivered_rows(ob):
            return ProvisionResult(False, "undelivered", "本机还有未送达的申请：请先导出或等待送达，再重新开通")
        control.hold(ob)
        saved = _snapshot(home)
        result = ProvisionResult(False, "error", "开通失败")
        try:
            if old is not None and _undelivered_rows(ob):  # queued while the daemon was letting go
                result = ProvisionResult(False, "undelivered", "本机还有未送达的申请：请先导出或等待送达，再重新开通")
                return result
            if old is not None:
                _drop_heartbeats(ob)  # the old identity's queued heartbeats must not go out under the new one
            retire = _retirement(saved, old, body)
            device, public_key = _store_identity(home, body)
            if uses_tls(body.broker_url):
                result = _enrol_over_tls(home, body, device, public_key, timeout_s)
            else:
                result = _enrol_over_mqtt(ob, body, device, public_key, retire, timeout_s)
        finally:
            if not result.ok and result.code != "pending":
                _restore(home, saved)
            try:
                current: DeviceConfig | None = DeviceConfig.load(home)
            except DeviceConfigError:
                current = None
            control.release(ob, current)
        return result
    finally:
        if own:
            ob.close()


def _enrol_over_mqtt(outbox: Outbox, body: TokenBody, device: DeviceConfig, public_key: str,
                     retire: dict[str, str], timeout_s: float) -> ProvisionResult:
    # The proof of the token's secret (the secret itself never travels): without it the central refuses.
    proof = enrol_event_proof(secret_hash(body.secret), device.device_id, body.tid, public_key)
    message_id = outbox.enqueue_event(device, "enrol", {"token_id": body.tid, "device_public_key": public_key,
                                                        "proof": proof, **retire})
    outbox.set_states({ENROL_PENDING_STATE: message_id})
    outcome = deliver_enrolment(outbox, device, message_id, timeout_s)
    if outcome.state == "acked":
        outbox.set_states({ENROL_PENDING_STATE: ""})
        return ProvisionResult(True, "enrolled", "开通成功：平台已确认本机", device.device_id, device.site)
    if outcome.state == "rejected":
        outbox.set_states({ENROL_PENDING_STATE: ""})
        reason = outcome.reason or "refused"
        return ProvisionResult(False, reason, _REFUSALS.get(reason, "平台拒绝了本次开通，请向平台重新申请开通码"))
    if outcome.state == "unreachable":  # never connected: nothing reached the central, the token is unspent
        drop_unconfirmed_enrolment(outbox)
        return ProvisionResult(False, "unreachable", explain_connect_error(outcome.error) + "。开通码仍可再用",
                               connect_error=outcome.error)
    return ProvisionResult(False, "pending", "已保存开通信息，正在等待平台确认（联网后自动完成）",
                           device.device_id, device.site)


def _enrol_over_tls(home: Path, body: TokenBody, device: DeviceConfig, public_key: str,
                    timeout_s: float) -> ProvisionResult:
    """A TLS fleet: the edge asks for the kiosk's certificate (:func:`sync.daemon.enrol.enrol_over_tls`)."""
    outcome = enrol_over_tls(home, body, device, public_key, timeout_s)
    if outcome.state == "unreachable":
        error = outcome.error or {}
        return ProvisionResult(False, "unreachable", "无法连接平台的开通服务 " + explain_connect_error(error),
                               connect_error=error)
    if outcome.state == "refused":
        reason = outcome.reason
        return ProvisionResult(False, reason, _REFUSALS.get(reason, "平台拒绝了本次开通，请向平台重新申请开通码"))
    if outcome.state == "bad_certificate":
        return ProvisionResult(False, "bad_certificate", "平台返回的证书无效，请联系平台")
    return ProvisionResult(True, "enrolled", "开通成功：平台已确认本机", device.device_id, device.site)


_REFUSALS = {
    "token_reused": "此开通码已被使用（由另一台终端开通，那台终端不受影响）：请向平台为本机申请新的开通码",
    "token_expired": "开通码已过期，请向平台重新申请",
    "token_revoked": "此开通码已被平台作废，请向平台重新申请",
    "token_unknown": "平台不认识此开通码，请确认是否为本平台签发",
    "token_for_another_device": "开通码与本机不符",
    "revoked": "本机已被平台吊销，请联系平台",
    "bad_proof": "开通请求未通过平台校验，请向平台重新申请开通码",
    "bad_retirement": "平台无法确认本机原有身份的交接，请联系平台",
}
