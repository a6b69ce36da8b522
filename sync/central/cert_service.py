"""The central's side of transport trust: signing kiosks' certificates (enrolment, renewal), revoking them,
and knowing who is revoked.

``CertService`` is one MQTT client on the fleet listener (identity ``_central``) that answers enrolment
requests (``kiosk/v1/_enrol/{id}/request``, from the broker's enrolment listener) and renewal requests
(``kiosk/v1/{id}/up/csr``). It runs beside the ingest workers in ``kiosk-central serve`` when the broker URL
is ``mqtts://``; several centrals share the work through a shared subscription.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.central.ca import DEFAULT_VALIDITY_S, CAError, FleetCA, public_key_der
from sync.central.enrolment import EnrolmentRefused, accept
from sync.central.keys import CentralKeys
from sync.central.models import DeviceCertificate, DeviceKey, DeviceRevocation, EnrolmentToken
from sync.central.store import CentralStore
from sync.daemon.backoff import Backoff
from sync.mqtt import TlsFiles, new_client
from sync.protocol import enrolment as proto
from sync.protocol.broker_url import parse_broker_url
from sync.protocol.topics import TopicError, check_device_id

log = logging.getLogger("kiosk.central.ca")

ENROL_SUBSCRIPTION = f"$share/central-ca/{proto.ENROL_ROOT}/+/request"
CSR_SUBSCRIPTION = "$share/central-ca/kiosk/v1/+/up/csr"


def _spki_sha256(csr_pem: str) -> str:
    try:
        return hashlib.sha256(public_key_der(x509.load_pem_x509_csr(csr_pem.encode()))).hexdigest()
    except ValueError as exc:
        raise CAError("unreadable CSR") from exc


def _record(s: Session, device_id: str, issued: Any, spki: str, token_id: str | None, now: float) -> None:
    s.add(DeviceCertificate(serial=issued.serial, device_id=device_id, not_before=issued.not_before,
                            not_after=issued.not_after, issued_at=now, public_key_sha256=spki, token_id=token_id,
                            cert_pem=issued.cert_pem.decode(), revoked_at=None))


def enrol(store: CentralStore, ca: FleetCA, device_id: str, payload: bytes, *,
          validity_s: float = DEFAULT_VALIDITY_S, now: float | None = None) -> proto.CertReply:
    """Answer one enrolment request arriving on ``device_id``'s enrolment topic (never raises)."""
    now = time.time() if now is None else now
    try:
        req = proto.read_enrol_request(payload)
    except proto.TrustMessageError:
        return proto.CertReply(device_id, False, "malformed", "", "", "")
    digest = proto.csr_digest(req["csr"])

    def refuse(reason: str) -> proto.CertReply:
        log.warning("refused the enrolment of %s: %s", device_id, reason)
        return proto.CertReply(device_id, False, reason, "", "", digest)

    if req["device_id"] != device_id:
        return refuse("device_mismatch")
    try:
        spki = _spki_sha256(req["csr"])
        with store.session() as s, s.begin():
            token = s.get(EnrolmentToken, req["token_id"])
            if token is None:
                return refuse("token_unknown")
            if token.device_id != device_id:
                return refuse("token_for_another_device")
            if not proto.check_enrol_proof(req, token.secret_sha256):
                return refuse("bad_proof")
            if s.get(DeviceRevocation, device_id) is not None:
                return refuse("revoked")
            if token.used_at is not None:
                # The same kiosk asking again (its reply was lost): the same certificate again.
                again = s.scalars(select(DeviceCertificate).where(
                    DeviceCertificate.token_id == token.id, DeviceCertificate.public_key_sha256 == spki)).first()
                if again is None:
                    return refuse("token_reused")
                return proto.CertReply(device_id, True, "ok", again.cert_pem, ca.cert_pem.decode(), digest)
            with s.begin_nested():
                accept(s, device_id, {"token_id": token.id, "device_public_key": req["device_public_key"]}, now)
            issued = ca.sign_device_csr(req["csr"].encode(), device_id, validity_s=validity_s)
            _record(s, device_id, issued, spki, token.id, now)
    except EnrolmentRefused as exc:
        return refuse(str(exc))
    except CAError as exc:
        return refuse(f"bad_csr: {exc}")
    log.info("enrolled %s: certificate %s until %.0f", device_id, issued.serial, issued.not_after)
    return proto.CertReply(device_id, True, "ok", issued.cert_pem.decode(), ca.cert_pem.decode(), digest)


def renew(store: CentralStore, ca: FleetCA, device_id: str, payload: bytes, *,
          validity_s: float = DEFAULT_VALIDITY_S, now: float | None = None) -> proto.CertReply:
    """Answer one renewal request from ``device_id``'s own ``up/csr`` (never raises)."""
    now = time.time() if now is None else now

    def refuse(reason: str, digest: str = "") -> proto.CertReply:
        log.warning("refused a certificate renewal for %s: %s", device_id, reason)
        return proto.CertReply(device_id, False, reason, "", "", digest)

    with store.session() as s, s.begin():
        if s.get(DeviceRevocation, device_id) is not None:
            return refuse("revoked")
        key = s.get(DeviceKey, device_id)
        if key is None:
            return refuse("not_enrolled")
        try:
            body = proto.read_renew_request(payload, base64.b64decode(key.public_key))
        except proto.TrustMessageError as exc:
            return refuse(f"bad_request: {exc}")
        csr = str(body["csr"])
        if body["device_id"] != device_id:
            return refuse("device_mismatch", proto.csr_digest(csr))
        try:
            issued = ca.sign_device_csr(csr.encode(), device_id, validity_s=validity_s)
            _record(s, device_id, issued, _spki_sha256(csr), None, now)
        except CAError as exc:
            return refuse(f"bad_csr: {exc}", proto.csr_digest(csr))
    log.info("renewed the certificate of %s: %s until %.0f", device_id, issued.serial, issued.not_after)
    return proto.CertReply(device_id, True, "ok", issued.cert_pem.decode(), ca.cert_pem.decode(),
                           proto.csr_digest(csr))


# -- revocation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revoked:
    device_id: str
    serials: tuple[str, ...]
    crl: Path


def revoke(store: CentralStore, ca: FleetCA, device_id: str, *, reason: str = "", crl_copy: Path | None = None,
           now: float | None = None) -> Revoked:
    """Mark the device revoked, put every certificate it holds on the CRL, and write the CRL (and the copy
    the broker reads). Idempotent: revoking twice changes nothing more."""
    check_device_id(device_id)
    now = time.time() if now is None else now
    with store.session() as s, s.begin():
        if s.get(DeviceRevocation, device_id) is None:
            s.add(DeviceRevocation(device_id=device_id, revoked_at=now, reason=reason[:200]))
        serials = []
        for cert in s.scalars(select(DeviceCertificate).where(DeviceCertificate.device_id == device_id)):
            if cert.revoked_at is None:
                cert.revoked_at = now
            serials.append(cert.serial)
    crl = ca.write_crl(revoked_certificates(store, now), also=crl_copy)
    log.warning("revoked %s (%d certificate(s))", device_id, len(serials))
    return Revoked(device_id, tuple(serials), crl)


def revoked_certificates(store: CentralStore, now: float | None = None) -> list[tuple[str, float]]:
    """(serial, revoked at) of every revoked certificate not yet expired: the CRL's content."""
    now = time.time() if now is None else now
    with store.session() as s:
        return [(c.serial, float(c.revoked_at or now)) for c in s.scalars(
            select(DeviceCertificate).where(DeviceCertificate.revoked_at.is_not(None),
                                            DeviceCertificate.not_after > now))]


def revoked_devices(store: CentralStore) -> set[str]:
    with store.session() as s:
        return set(s.scalars(select(DeviceRevocation.device_id)))


class RevokedDevices:
    """The ingest worker's view of revoked devices, read again at most every ``refresh_s`` seconds, so a
    revocation takes effect at the central within that time without a query per message."""

    def __init__(self, store: CentralStore, refresh_s: float = 1.0) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._ids: set[str] = set()
        self._read_at = -1e9

    def __contains__(self, device_id: object) -> bool:
        if time.monotonic() - self._read_at >= self.refresh_s:
            self._ids = revoked_devices(self.store)
            self._read_at = time.monotonic()
        return device_id in self._ids


def drop_connection(broker_url: str, tls: TlsFiles | None, device_id: str, timeout_s: float = 5.0) -> bool:
    """Disconnect the kiosk's live session now: connecting with its sync daemon's client id makes the broker
    close the old connection (MQTT session takeover); the kiosk's reconnect then fails on the CRL.
    Returns whether the broker accepted our connection."""
    host, port = parse_broker_url(broker_url)
    client = new_client(f"kiosk-{device_id}", tls)
    done = threading.Event()
    ok: list[bool] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        ok.append(not rc.is_failure)
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10, clean_start=True)
    except OSError:
        return False
    deadline = time.monotonic() + timeout_s
    while not done.is_set() and time.monotonic() < deadline:
        if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
            break
    client.disconnect()
    return bool(ok and ok[0])


# -- the service --------------------------------------------------------------------------------------------


class CertService:
    def __init__(self, broker_url: str, store: CentralStore, keys: CentralKeys, ca: FleetCA, *,
                 tls: TlsFiles | None = None, validity_s: float = DEFAULT_VALIDITY_S, worker_id: str = "0",
                 backoff: Backoff | None = None) -> None:
        self.host, self.port = parse_broker_url(broker_url)
        self.store = store
        self.keys = keys
        self.ca = ca
        self.tls = tls if tls is not None else ca.central_tls()
        self.validity_s = validity_s
        self.client_id = f"central-ca-{worker_id}"
        self.connected = threading.Event()
        self.answered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = backoff or Backoff(0.5, 10.0)

    def start(self) -> CertService:
        self._thread = threading.Thread(target=self.run, name=self.client_id, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        client: mqtt.Client | None = None
        next_attempt = 0.0
        while not self._stop.is_set():
            if client is None:
                if time.monotonic() < next_attempt:
                    self._stop.wait(0.1)
                    continue
                client = new_client(self.client_id, self.tls)
                client.on_connect = self._on_connect
                client.on_message = self._on_message
                try:
                    client.connect(self.host, self.port, keepalive=30, clean_start=True)
                except OSError as exc:
                    log.info("broker unreachable: %s", type(exc).__name__)
                    client = None
                    next_attempt = time.monotonic() + self._backoff.next_delay()
                    continue
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                self.connected.clear()
                client = None
                next_attempt = time.monotonic() + self._backoff.next_delay()
        if client is not None:
            client.disconnect()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the certificate service: %s", reason_code)
            return
        self._backoff.reset()
        client.subscribe([(ENROL_SUBSCRIPTION, 1), (CSR_SUBSCRIPTION, 1)])
        self.connected.set()

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        parts = message.topic.split("/")
        try:
            device_id = check_device_id(parts[3] if message.topic.startswith(proto.ENROL_ROOT) else parts[2])
        except (TopicError, IndexError):
            return
        if message.topic == proto.enrol_request_topic(device_id):
            reply = enrol(self.store, self.ca, device_id, bytes(message.payload), validity_s=self.validity_s)
            topic = proto.enrol_reply_topic(device_id)
        elif message.topic == proto.csr_topic(device_id):
            reply = renew(self.store, self.ca, device_id, bytes(message.payload), validity_s=self.validity_s)
            topic = proto.cert_topic(device_id)
        else:
            return
        client.publish(topic, proto.make_cert_reply(self.keys.command_private_raw, reply), qos=1)
        self.answered += 1
