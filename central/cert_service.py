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
import json
import logging
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from central import fleet
from central.ca import DEFAULT_VALIDITY_S, CAError, FleetCA, key_pem, public_key_der
from central.enrolment import EnrolmentRefused, accept
from central.failures import AlarmThrottle, handler_failed
from central.keys import CentralKeys
from central.models import DeviceCertificate, DeviceKey, DeviceRevocation, EnrolmentToken
from central.store import CentralStore
from sync.protocol import enrolment as proto
from sync.protocol import topics
from sync.protocol.broker_url import parse_broker_url, uses_tls
from sync.protocol.topics import TopicError, check_device_id
from sync.runtime.backoff import Backoff
from sync.runtime.connection import MqttConnection
from sync.runtime.files import write_private
from sync.runtime.mqtt import (
    TlsFiles,
    is_kiosk_client_id,
    max_packet_properties,
    new_client,
    tls_context,
    unguessable_client_id,
)

log = logging.getLogger("kiosk.central.ca")

ENROL_SUBSCRIPTION = topics.ENROL_SUBSCRIPTION
CSR_SUBSCRIPTION = topics.CSR_SUBSCRIPTION
MAX_REQUEST_PACKET = proto.MAX_MESSAGE + 4096  # a request at its largest, with its topic and header


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
                accept(s, device_id, {"token_id": token.id, "device_public_key": req["device_public_key"]}, now,
                       proven=True)  # the request's own proof was checked above
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
           now: float | None = None, also_revoked: Sequence[tuple[str, float]] = ()) -> Revoked:
    """Mark the device revoked, put every certificate it holds on the CRL, and write the CRL (and the copy
    the broker reads). Idempotent: revoking twice changes nothing more. ``also_revoked``: serials put on this
    CRL besides (the probe of :func:`cut_off`)."""
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
    crl = ca.write_crl([*revoked_certificates(store, now), *also_revoked], also=crl_copy)
    log.warning("revoked %s (%d certificate(s))", device_id, len(serials))
    return Revoked(device_id, tuple(serials), crl)


@dataclass(frozen=True)
class CutOff:
    revoked: Revoked
    crl_active: bool  # the broker was seen refusing a certificate on the new CRL before the drop
    dropped: bool  # the kiosk's live connection was taken over (mqtts:// brokers only)


CRL_WAIT_S = 20.0


def cut_off(store: CentralStore, ca: FleetCA, device_id: str, *, broker_url: str, tls: TlsFiles | None,
            reason: str = "", crl_copy: Path | None = None, reload: Callable[[], None] | None = None,
            wait_s: float = CRL_WAIT_S) -> CutOff:
    """Revoke ``device_id`` and cut it off, in the order that leaves it no way back in:

    1. the CRL is written with the kiosk's certificates and a fresh probe certificate of our own;
    2. the broker is told to reload it (``reload``: SIGHUP, ``systemctl reload mosquitto``, ...);
    3. we wait until the broker refuses the probe at the TLS handshake: it now runs the new CRL;
    4. only then the kiosk's live connection is dropped, so its reconnect meets the new CRL.
    If the broker is not seen refusing the probe within ``wait_s`` (no reload hook and nobody reloaded), the
    connection is dropped all the same and ``crl_active`` is False: the operator must reload the broker (the
    central already refuses everything the kiosk sends and sends it nothing)."""
    now = time.time()
    plain = not (broker_url and uses_tls(broker_url))
    probe_cert = probe_key = None
    if not plain:
        probe_cert, probe_key = ca.crl_probe()
    done = revoke(store, ca, device_id, reason=reason, crl_copy=crl_copy, now=now,
                  also_revoked=[(probe_cert.serial, now)] if probe_cert is not None else ())
    if plain or probe_cert is None or probe_key is None:
        return CutOff(done, False, False)
    if reload is not None:
        reload()
    crl_active = _wait_for_crl(broker_url, ca, probe_cert.cert_pem, key_pem(probe_key), wait_s)
    if not crl_active:
        log.error("the broker did not load the new CRL within %.0f s: reload it (systemctl reload mosquitto)",
                  wait_s)
    dropped = drop_connection(broker_url, tls, device_id)
    return CutOff(done, crl_active, dropped)


def _wait_for_crl(broker_url: str, ca: FleetCA, cert_pem: bytes, key_pem_bytes: bytes, wait_s: float) -> bool:
    host, port = parse_broker_url(broker_url)
    with tempfile.TemporaryDirectory(prefix="kiosk-crl-probe-") as folder:
        identity = Path(folder) / "probe.pem"
        write_private(identity, key_pem_bytes + cert_pem)
        tls = TlsFiles(ca.ca_path, identity, None)
        deadline = time.monotonic() + wait_s
        tick = threading.Event()
        while True:
            if handshake_refused(host, port, tls):
                return True
            if time.monotonic() >= deadline:
                return False
            tick.wait(0.2)  # the broker applies its reload on its own time: look again shortly


def handshake_refused(host: str, port: int, tls: TlsFiles, timeout_s: float = 5.0) -> bool:
    """Whether the broker refuses this client certificate (TLS handshake, or the connection closed before an
    MQTT CONNACK). False when it accepts it, and when the broker cannot be reached at all (nothing learnt)."""
    client_id = unguessable_client_id("crl-probe").encode()
    payload = b"\x00\x04MQTT\x04\x02\x00\x0a" + len(client_id).to_bytes(2, "big") + client_id
    connect = b"\x10" + bytes([len(payload)]) + payload
    try:
        raw = socket.create_connection((host, port), timeout=timeout_s)
    except OSError:
        return False
    try:
        with tls_context(tls).wrap_socket(raw, server_hostname=host) as conn:
            conn.sendall(connect)
            first = conn.recv(1)
            if first[:1] == b"\x20":  # CONNACK: accepted
                conn.sendall(b"\xe0\x00")  # DISCONNECT
                return False
            return True  # closed without an answer
    except ssl.SSLError:
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except OSError:
        return False
    finally:
        raw.close()


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
    The id is unguessable (sync.runtime.mqtt.kiosk_client_id): the central reads it from the kiosk's retained status
    (``client``, which only the kiosk itself may publish), and also takes over ``kiosk-{device id}``, the id of
    kiosks that predate it. Returns whether the broker accepted our connection."""
    host, port = parse_broker_url(broker_url)
    ids = [f"kiosk-{device_id}"]
    announced = _announced_client_id(host, port, tls, device_id, timeout_s)
    if announced is not None:
        ids.insert(0, announced)
    else:
        log.warning("%s announced no client id: only its legacy id is taken over", device_id)
    return all([_take_over(host, port, tls, client_id, timeout_s) for client_id in ids])


def _announced_client_id(host: str, port: int, tls: TlsFiles | None, device_id: str, timeout_s: float) -> str | None:
    """The client id in the kiosk's retained ``up/status``, if it has the shape of its own id."""
    client = new_client(unguessable_client_id("central-drop"), tls)
    statuses: list[bytes] = []
    barrier: list[int] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            done.set()
            return
        c.subscribe(topics.up(device_id, "status"), qos=0)
        # Retained messages of a subscription are queued before the broker answers our next SUBSCRIBE: once
        # that SUBACK is here, the status (if any) has arrived.
        mid = c.subscribe(topics.barrier_topic(device_id), qos=0)[1]
        if mid is not None:
            barrier.append(mid)

    def on_subscribe(_c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        if mid in barrier:
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda _c, _u, m: statuses.append(bytes(m.payload)) if m.retain else None
    try:
        client.connect(host, port, keepalive=10, clean_start=True)
    except OSError:
        return None
    deadline = time.monotonic() + timeout_s
    while not done.is_set() and time.monotonic() < deadline:
        if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
            break
    client.disconnect()
    for payload in statuses:
        try:
            announced = json.loads(payload).get("client")
        except (ValueError, AttributeError):
            continue
        if is_kiosk_client_id(device_id, announced):
            return str(announced)
    return None


def _take_over(host: str, port: int, tls: TlsFiles | None, client_id: str, timeout_s: float) -> bool:
    client = new_client(client_id, tls)
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
        self.client_id = unguessable_client_id(f"central-ca-{worker_id}")
        self.connected = threading.Event()
        self.answered = 0
        self.failed_total = 0  # requests a handler failed on (a bug or a fault, not a refusal)
        self._throttle = AlarmThrottle()
        self.largest_payload = 0  # the largest request the broker delivered (bounded by MAX_REQUEST_PACKET)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Enrolment and renewal requests are small (proto.MAX_MESSAGE): the broker is asked never to deliver more
        # than that (MQTT 5 Maximum Packet Size), so a huge publish on the enrolment listener, which anyone may
        # reach, never reaches the central's memory.
        self.connection = MqttConnection(
            self.host, self.port, client_id=self.client_id, tls=self.tls, backoff=backoff or Backoff(0.5, 10.0),
            subscriptions=[(ENROL_SUBSCRIPTION, 1), (CSR_SUBSCRIPTION, 1)],
            connect_properties=max_packet_properties(MAX_REQUEST_PACKET), stop=self._stop, connected=self.connected,
            on_message=self._on_message, name=f"certificate service {self.client_id}")

    def start(self) -> CertService:
        self._thread = threading.Thread(target=self.run, name=self.client_id, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """The service's thread: it alone calls paho (``self.connection``); requests are answered as they arrive."""
        self.connection.run()

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        self.largest_payload = max(self.largest_payload, len(message.payload))
        try:
            self._answer(message)
        except Exception as exc:  # no message may stop the service: this one is refused, the rest go on
            self._failed(message.topic, exc)

    def _failed(self, topic: str, exc: BaseException) -> None:
        """Refused unanswered (the kiosk's request times out), counted, and alarmed at most every
        ALARM_REPEAT_S for the whole service: anyone may reach the enrolment listener, with any device id."""
        self.failed_total += 1
        parts = topic.split("/")
        kind = "enrolment request" if topic.startswith(proto.ENROL_ROOT) else "renewal request"
        at = 3 if kind == "enrolment request" else 2  # checked by _answer before it failed
        device_id = parts[at] if len(parts) > at else "?"
        alarm = handler_failed(log, kind, device_id, exc)
        if not self._throttle.due("", alarm[0]):
            return
        try:
            fleet.raise_alarms(self.store, [(device_id, *alarm)])
        except Exception as alarm_exc:  # the database may be the very fault: the log line above remains
            log.error("could not record the %s alarm (%s)", alarm[0], type(alarm_exc).__name__)

    def _answer(self, message: mqtt.MQTTMessage) -> None:
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
        self.connection.publish(topic, proto.make_cert_reply(self.keys.command_private_raw, reply))
        self.answered += 1
