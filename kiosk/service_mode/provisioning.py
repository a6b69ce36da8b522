"""Provisioning a kiosk from the central's enrolment token (typed, scanned, or ``kiosk provision``).

The kiosk checks the token (form, signature, expiry, and a pinned central key when one is installed),
generates its own Ed25519 key pair, stores its secrets (folder 0700, files 0600) and its device
configuration, sends its enrolment to the central, and reports success only when the central confirms
(acks the enrolment). A refused enrolment rolls everything back.
"""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.daemon.service import SyncDaemon
from sync.device import DEVICE_FILE, DeviceConfig, DeviceConfigError
from sync.files import write_private
from sync.outbox.models import State
from sync.outbox.status import DAEMON_LIVENESS_S
from sync.outbox.store import open_outbox
from sync.protocol.broker_url import uses_tls
from sync.protocol.enrolment import EnrolmentError, TokenBody, read_token

SECRETS_DIR = "secrets"
_tick = threading.Event()
PINNED_KEY_FILES = (Path("/etc/kiosk/central-command.pub"),)


@dataclass(frozen=True)
class ProvisionResult:
    ok: bool
    code: str  # enrolled | pending | a refusal code
    message: str  # Chinese, for the technician's screen
    device_id: str | None = None


def pinned_command_key(home: Path) -> bytes | None:
    for path in (home / "central-command.pub", *PINNED_KEY_FILES):
        if path.exists():
            return base64.b64decode(path.read_text().strip())
    return None


def undelivered(home: Path) -> int:
    if not (home / "outbox.db").exists():
        return 0
    outbox = open_outbox(home, None)
    try:
        counts = outbox.counts()
        return counts[State.PENDING] + counts[State.SENT]
    finally:
        outbox.close()




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
    public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)).decode()
    device = DeviceConfig(body.device_id, body.site, body.broker_url, body.seal_key, body.command_key)
    device.save(home)
    os.chmod(home / DEVICE_FILE, 0o600)
    return device, public


def _roll_back(home: Path) -> None:
    (home / DEVICE_FILE).unlink(missing_ok=True)
    shutil.rmtree(home / SECRETS_DIR, ignore_errors=True)


def provision(home: Path, token_text: str, *, timeout_s: float = 60.0, now: float | None = None) -> ProvisionResult:
    try:
        body = read_token(token_text, now=now, pinned_command_key=pinned_command_key(home))
    except EnrolmentError as exc:
        return ProvisionResult(False, exc.code, exc.message)
    try:
        DeviceConfig.load(home)
        already = True
    except DeviceConfigError:
        already = False
    if already and undelivered(home):
        return ProvisionResult(False, "undelivered", "本机还有未送达的申请：请先导出或等待送达，再重新开通")
    device, public_key = _store_identity(home, body)
    if uses_tls(body.broker_url):
        return _enrol_over_tls(home, body, device, public_key, timeout_s)
    outbox = open_outbox(home, device)
    daemon: SyncDaemon | None = None
    try:
        message_id = outbox.enqueue_event(device, "enrol", {"token_id": body.tid, "device_public_key": public_key})
        states = outbox.states()
        daemon_alive = time.time() - float(states.get("daemon_seen", "0") or 0) < DAEMON_LIVENESS_S
        if not daemon_alive:
            daemon = SyncDaemon(outbox, device).start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            row = outbox.find(message_id)
            if row is not None and row.state == State.ACKED:
                return ProvisionResult(True, "enrolled", "开通成功：平台已确认本机", device.device_id)
            if row is not None and row.state == State.REJECTED:
                reason = row.last_error or "refused"
                _roll_back(home)
                message = _REFUSALS.get(reason, "平台拒绝了本次开通，请向平台重新申请开通码")
                return ProvisionResult(False, reason, message)
            # The ack may be written by another process (a running kiosk-syncd): poll the shared database.
            _tick.wait(0.05)
        return ProvisionResult(False, "pending", "已保存开通信息，正在等待平台确认（联网后自动完成）",
                               device.device_id)
    finally:
        if daemon is not None:
            daemon.stop()
        outbox.close()


def _enrol_over_tls(home: Path, body: TokenBody, device: DeviceConfig, public_key: str,
                    timeout_s: float) -> ProvisionResult:
    """A TLS fleet: ask the broker's enrolment listener for a client certificate (Transport trust in
    docs/PROTOCOL.md). The channel is encrypted; the request is proven with the token's secret and the
    reply is signed by the central's command key, so neither can be forged by whoever sits in between."""
    import paho.mqtt.client as mqtt
    from cryptography.hazmat.primitives.asymmetric import ec

    from sync.daemon.renewal import check_issued, identity_pem, tls_files
    from sync.mqtt import new_client
    from sync.protocol import enrolment as proto
    from sync.protocol.broker_url import parse_broker_url

    key = ec.generate_private_key(ec.SECP256R1())
    csr = proto.make_csr(key, device.device_id).decode()
    host, port = parse_broker_url(body.enrol_url or body.broker_url)
    replies: list[bytes] = []
    client = new_client(device.device_id)
    # No fleet CA yet to check the enrolment listener with: TLS here only hides the exchange from onlookers.
    client.tls_set_context(_unverified_tls())

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        if not rc.is_failure:
            c.subscribe(proto.enrol_reply_topic(device.device_id), qos=1)
            c.publish(proto.enrol_request_topic(device.device_id), proto.make_enrol_request(body, public_key, csr),
                      qos=1)

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, m: replies.append(bytes(m.payload))
    reply: proto.CertReply | None = None
    try:
        client.connect(host, port, keepalive=30, clean_start=True)
        deadline = time.monotonic() + timeout_s
        while reply is None and time.monotonic() < deadline:
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                break
            while replies and reply is None:
                try:
                    got = proto.read_cert_reply(replies.pop(0), base64.b64decode(body.command_key))
                except proto.TrustMessageError:
                    continue  # not from our central: keep waiting for the real answer
                if got.device_id == device.device_id and got.csr_sha256 == proto.csr_digest(csr):
                    reply = got
    except OSError:
        reply = None
    finally:
        client.disconnect()
    if reply is None:
        _roll_back(home)
        return ProvisionResult(False, "unreachable", "无法连接平台的开通服务，请检查网络后重试")
    if not reply.ok:
        _roll_back(home)
        reason = reply.reason
        return ProvisionResult(False, reason, _REFUSALS.get(reason, "平台拒绝了本次开通，请向平台重新申请开通码"))
    try:
        check_issued(reply, key, device.device_id, reply.ca_pem.encode())
    except (proto.TrustMessageError, ValueError):
        _roll_back(home)
        return ProvisionResult(False, "bad_certificate", "平台返回的证书无效，请联系平台")
    files = tls_files(home)
    write_private(files.ca, reply.ca_pem.encode())
    assert files.cert is not None
    write_private(files.cert, identity_pem(key, reply.cert_pem.encode()))
    return ProvisionResult(True, "enrolled", "开通成功：平台已确认本机", device.device_id)


def _unverified_tls() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


_REFUSALS = {
    "token_reused": "此开通码已被使用过，请向平台重新申请",
    "token_expired": "开通码已过期，请向平台重新申请",
    "token_unknown": "平台不认识此开通码，请确认是否为本平台签发",
    "token_for_another_device": "开通码与本机不符",
    "revoked": "本机已被平台吊销，请联系平台",
    "bad_proof": "开通请求未通过平台校验，请向平台重新申请开通码",
}
