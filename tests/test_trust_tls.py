"""Transport trust (issue 9, part 1), against a real Mosquitto running the shipped configuration
(packaging/broker/mosquitto.conf + acl + acl-enrol): the fleet CA, mutual TLS, per-device ACLs,
revocation, expiry, broker pinning, enrolment over the enrolment listener and renewal before expiry."""

from __future__ import annotations

import ssl
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509

from central.ca import FleetCA, new_key
from central.cert_service import CertService, drop_connection, revoke
from central.enrolment import issue_token
from central.ingest import IngestWorker
from central.keys import CentralKeys
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from kiosk.service_mode.provisioning import provision
from sync.daemon.renewal import identity_pem, tls_files
from sync.daemon.service import SyncDaemon
from sync.device import DeviceConfig
from sync.outbox.store import open_outbox
from sync.protocol.enrolment import make_csr
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import TlsFiles, new_client
from tests.helpers import wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "周八"}]


@dataclass
class Fleet:
    ca: FleetCA
    broker: MosquittoBroker
    keys: CentralKeys
    store: CentralStore
    worker: IngestWorker
    certs: CertService
    tls_dir: Path
    central_tls: TlsFiles


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    ca = FleetCA.open(root / "central")
    tls_dir = ca.server_files(root / "broker-files", ["127.0.0.1", "localhost"])
    keys = CentralKeys.generate()
    with MosquittoBroker(tls_dir=tls_dir) as broker:
        store = CentralStore(f"sqlite:///{root / 'central.db'}")
        central_tls = ca.central_tls()
        worker = IngestWorker(broker.url, store, keys, worker_id=uuid.uuid4().hex[:6], backoff=Backoff(0.05, 0.5),
                              tls=central_tls).start()
        certs = CertService(broker.url, store, keys, ca, backoff=Backoff(0.05, 0.5)).start()
        wait_until(lambda: worker.connected.is_set() and certs.connected.is_set(), what="central on the TLS broker")
        yield Fleet(ca, broker, keys, store, worker, certs, tls_dir, central_tls)
        certs.stop()
        worker.stop()
        store.close()


def enrol(fleet: Fleet, home: Path) -> DeviceConfig:
    """A kiosk enrolled the production way: token, enrolment listener, signed certificate."""
    issued = issue_token(fleet.store, fleet.keys, site="测试街道", broker_url=fleet.broker.url,
                         enrol_url=fleet.broker.enrol_url)
    home.mkdir(parents=True, exist_ok=True)
    result = provision(home, issued.token, timeout_s=20)
    assert result.ok, result
    return DeviceConfig.load(home)


def identity(fleet: Fleet, folder: Path, device_id: str, **kw: Any) -> TlsFiles:
    """A certificate straight from the CA (for tests that need no enrolment)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = new_key()
    issued = fleet.ca.sign_device_csr(make_csr(key, device_id), device_id, **kw)
    (folder / "id.pem").write_bytes(identity_pem(key, issued.cert_pem))
    return TlsFiles(fleet.ca.ca_path, folder / "id.pem", None)


@dataclass
class Probe:
    """A raw MQTT client recording what happens to it."""

    client: mqtt.Client
    connack: list[str] = field(default_factory=list)
    pubacks: dict[int, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def probe(url_port: int, client_id: str, tls: TlsFiles) -> Probe:
    c = new_client(client_id, tls)
    p = Probe(c)
    c.on_connect = lambda _c, _u, _f, rc, _p: p.connack.append(str(rc))
    c.on_publish = lambda _c, _u, mid, rc, _p: p.pubacks.__setitem__(mid, str(rc))
    c.on_message = lambda _c, _u, m: p.messages.append(m.topic)
    c.on_disconnect = lambda *_a: p.disconnected.set()
    c.connect("127.0.0.1", url_port, keepalive=30)
    c.loop_start()
    return p


def refused_at_handshake(port: int, tls: TlsFiles) -> bool:
    """True when the broker closes the connection without ever accepting it."""
    p = probe(port, f"t-{uuid.uuid4().hex[:8]}", tls)
    try:
        wait_until(lambda: p.disconnected.is_set() or bool(p.connack), timeout=10, what="the broker's verdict")
        return not p.connack or p.connack[0] != "Success"
    finally:
        p.stop()


def test_enrolled_kiosk_delivers_over_mtls_and_gets_its_ack(fleet: Fleet, tmp_path: Path) -> None:
    home = tmp_path / "kiosk"
    device = enrol(fleet, home)
    files = tls_files(home)
    for f in (files.ca, files.cert, home / "secrets" / "device_key"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert files.cert is not None
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert cert.subject.rfc4514_string() == f"CN={device.device_id}"
    assert 29 * 86400 < cert.not_valid_after_utc.timestamp() - time.time() <= 30 * 86400
    outbox = open_outbox(home, device)
    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.5)).start()
    try:
        receipt = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        wait_until(lambda: (row := outbox.find(receipt.message_id)) is not None and row.state == "acked",
                   timeout=20, what="the central's ack over mTLS")
        assert any(r["id"] == receipt.message_id for r in fleet.store.list_masked())
    finally:
        daemon.stop()
        outbox.close()


def test_a_kiosk_cannot_publish_on_or_read_another_kiosks_topics(fleet: Fleet, tmp_path: Path) -> None:
    a, b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    central = probe(fleet.broker.port, f"central-test-{a}", fleet.central_tls)
    kiosk_a = probe(fleet.broker.port, f"kiosk-{a}", identity(fleet, tmp_path / "a", a))
    try:
        wait_until(lambda: central.connack == ["Success"] and kiosk_a.connack == ["Success"], what="both connected")
        subacks = [threading.Event(), threading.Event()]  # publishing before the SUBACKs races the SUBSCRIBEs
        central.client.on_subscribe = lambda *_a: subacks[0].set()
        kiosk_a.client.on_subscribe = lambda *_a: subacks[1].set()
        central.client.subscribe([(f"kiosk/v1/{a}/up/#", 1), (f"kiosk/v1/{b}/up/#", 1)])
        kiosk_a.client.subscribe([(f"kiosk/v1/{b}/down/cmd", 1), (f"kiosk/v1/{a}/down/cmd", 1)])
        wait_until(lambda: all(e.is_set() for e in subacks), what="subscriptions")
        forged = kiosk_a.client.publish(f"kiosk/v1/{b}/up/submission", b"forged", qos=1)
        own = kiosk_a.client.publish(f"kiosk/v1/{a}/up/event", b"own", qos=1)
        wait_until(lambda: forged.mid in kiosk_a.pubacks and own.mid in kiosk_a.pubacks, what="PUBACKs")
        assert kiosk_a.pubacks[forged.mid] == "Not authorized"
        assert kiosk_a.pubacks[own.mid] == "Success"
        # Commands: the central sends to both; A only ever receives its own.
        central.client.publish(f"kiosk/v1/{b}/down/cmd", b"for b", qos=1)
        central.client.publish(f"kiosk/v1/{a}/down/cmd", b"for a", qos=1)
        wait_until(lambda: f"kiosk/v1/{a}/down/cmd" in kiosk_a.messages, what="A's own command (positive control)")
        wait_until(lambda: f"kiosk/v1/{a}/up/event" in central.messages, what="A's own event at the central")
        assert f"kiosk/v1/{b}/down/cmd" not in kiosk_a.messages
        assert f"kiosk/v1/{b}/up/submission" not in central.messages
    finally:
        central.stop()
        kiosk_a.stop()


def test_expired_and_foreign_certificates_cannot_connect(fleet: Fleet, tmp_path: Path) -> None:
    device_id = f"e-{uuid.uuid4().hex[:8]}"
    valid = identity(fleet, tmp_path / "valid", device_id)
    expired = identity(fleet, tmp_path / "expired", device_id, validity_s=60, not_before=time.time() - 3600)
    assert not refused_at_handshake(fleet.broker.port, valid)  # positive control
    assert refused_at_handshake(fleet.broker.port, expired)
    rogue = FleetCA.open(tmp_path / "rogue-central")
    key = new_key()
    forged = rogue.sign_device_csr(make_csr(key, device_id), device_id)
    (tmp_path / "forged.pem").write_bytes(identity_pem(key, forged.cert_pem))
    assert refused_at_handshake(fleet.broker.port, TlsFiles(fleet.ca.ca_path, tmp_path / "forged.pem", None))


def test_a_kiosk_refuses_a_broker_not_signed_by_the_fleet_ca(fleet: Fleet, tmp_path: Path) -> None:
    files = identity(fleet, tmp_path / "kiosk", f"k-{uuid.uuid4().hex[:8]}")
    rogue = FleetCA.open(tmp_path / "rogue")
    wrong_name = FleetCA.open(tmp_path / "fleet-copy")
    wrong_name.key, wrong_name.cert = fleet.ca.key, fleet.ca.cert  # our CA, but a certificate for another host
    with MosquittoBroker(tls_dir=rogue.server_files(tmp_path / "rogue-files", ["127.0.0.1"])) as impostor, \
            MosquittoBroker(tls_dir=wrong_name.server_files(tmp_path / "other-host", ["other.example"])) as other:
        for broker in (impostor, other):
            client = new_client("kiosk-pinned", files)
            with pytest.raises(ssl.SSLCertVerificationError):
                client.connect("127.0.0.1", broker.port)
    client = new_client("kiosk-pinned", files)  # positive control: the real broker passes the same checks
    assert client.connect("127.0.0.1", fleet.broker.port) == mqtt.MQTT_ERR_SUCCESS
    client.disconnect()


@pytest.mark.slow
def test_revoked_kiosk_is_cut_off_and_refused(fleet: Fleet, tmp_path: Path) -> None:
    home = tmp_path / "kiosk"
    device = enrol(fleet, home)
    outbox = open_outbox(home, device)
    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.3)).start()
    try:
        wait_until(daemon.connected.is_set, what="the kiosk connected")
        done = revoke(fleet.store, fleet.ca, device.device_id, reason="stolen", crl_copy=fleet.tls_dir / "crl.pem")
        assert done.serials
        fleet.broker.reload()
        # The worker re-reads revocations at most every second (RevokedDevices.refresh_s): wait for that read.
        wait_until(lambda: device.device_id in fleet.worker.revoked, timeout=5, what="the worker seeing the revocation")
        wait_until(lambda: drop_connection(fleet.broker.url, fleet.central_tls, device.device_id)
                   and not daemon.connected.is_set(), timeout=10, what="the live connection dropped")
        attempts = daemon.connect_attempts
        wait_until(lambda: daemon.connect_attempts >= attempts + 3, timeout=15, what="reconnect attempts")
        assert not daemon.connected.is_set()
        assert refused_at_handshake(fleet.broker.port, tls_files(home))
        # The central refuses it too, whatever the broker lets through (here: a message on its topic).
        before = fleet.worker.refused_total
        central = probe(fleet.broker.port, f"central-test-{device.device_id}", fleet.central_tls)
        try:
            wait_until(lambda: central.connack == ["Success"], what="central probe")
            central.client.publish(f"kiosk/v1/{device.device_id}/up/event", b"{}", qos=1)
            wait_until(lambda: fleet.worker.refused_total > before, what="the central's refusal")
        finally:
            central.stop()
    finally:
        daemon.stop()
        outbox.close()


@pytest.mark.slow
def test_certificate_renewed_before_expiry_without_losing_queued_submissions(fleet: Fleet, tmp_path: Path) -> None:
    home = tmp_path / "kiosk"
    device = enrol(fleet, home)
    files = tls_files(home)
    assert files.cert is not None
    # Replace the 30-day certificate by one with 6 s of its 30 left: renewal is due at once.
    key = new_key()
    short = fleet.ca.sign_device_csr(make_csr(key, device.device_id), device.device_id, validity_s=30,
                                     not_before=time.time() - 24)
    files.cert.write_bytes(identity_pem(key, short.cert_pem))
    outbox = open_outbox(home, device)
    receipts = [outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS).message_id for _ in range(20)]
    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.3)).start()
    try:
        assert daemon.renewal is not None
        wait_until(lambda: daemon.renewal is not None and daemon.renewal.renewed >= 1, timeout=15,
                   what="the certificate renewed")
        renewed_at = time.time()
        assert renewed_at < short.not_after  # before expiry
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        assert cert.not_valid_after_utc.timestamp() - renewed_at > 29 * 86400
        assert stat.S_IMODE(files.cert.stat().st_mode) == 0o600
        receipts += [outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS).message_id for _ in range(5)]
        # Once the old certificate has expired, a broker restart forces a new handshake: with the new one.
        wait_until(lambda: time.time() > short.not_after + 1, timeout=15, what="the old certificate expired")
        fleet.broker.stop()
        fleet.broker.start()
        wait_until(lambda: all((r := outbox.find(m)) is not None and r.state == "acked" for m in receipts),
                   timeout=30, what="every queued submission acked")
        stored = {r["id"] for r in fleet.store.list_masked()}
        assert set(receipts) <= stored
        assert fleet.store.duplicates() == 0
    finally:
        daemon.stop()
        outbox.close()


def test_bad_enrolment_and_renewal_requests_are_refused_and_lose_nothing(fleet: Fleet, tmp_path: Path) -> None:
    from central import cert_service
    from sync.protocol import enrolment as proto

    issued = issue_token(fleet.store, fleet.keys, site="S", broker_url=fleet.broker.url,
                         enrol_url=fleet.broker.enrol_url)
    body = proto.read_token(issued.token)
    csr = make_csr(new_key(), body.device_id).decode()
    good = proto.make_enrol_request(body, "A" * 43 + "=", csr)
    forged = proto.make_enrol_request(proto.TokenBody(**{**body.__dict__, "secret": "guessed"}), "A" * 43 + "=", csr)
    other_csr = proto.make_enrol_request(body, "A" * 43 + "=", make_csr(new_key(), "someone-else").decode())
    cases = {b"not json": "malformed", forged: "bad_proof", other_csr: "bad_csr: CSR names another device"}
    for payload, reason in cases.items():
        reply = cert_service.enrol(fleet.store, fleet.ca, body.device_id, payload)
        assert not reply.ok and reply.reason == reason
    assert cert_service.enrol(fleet.store, fleet.ca, "another-kiosk", good).reason == "device_mismatch"
    # Nothing was consumed: the real request still enrols, and a repeat gets the same certificate.
    first = cert_service.enrol(fleet.store, fleet.ca, body.device_id, good)
    again = cert_service.enrol(fleet.store, fleet.ca, body.device_id, good)
    assert first.ok and again.ok and first.cert_pem == again.cert_pem
    # Renewal: signed by a key that is not the enrolled one, or for a kiosk never enrolled.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())
    request = proto.make_renew_request(body.device_id, csr, stranger)
    assert cert_service.renew(fleet.store, fleet.ca, body.device_id, request).reason.startswith("bad_request")
    assert cert_service.renew(fleet.store, fleet.ca, "never-enrolled", request).reason == "not_enrolled"
    # A reply not signed by the central is refused by the kiosk.
    fake = proto.make_cert_reply(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()), first)
    with pytest.raises(proto.TrustMessageError):
        proto.read_cert_reply(fake, fleet.keys.command_public_raw)


def test_cli_ca_and_revoke(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    home = tmp_path / "central"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "kiosk-central"), *args, "--home", str(home)], capture_output=True,
                              text=True, timeout=60)

    made = run("ca", "broker-files", "--out", str(tmp_path / "b"), "--name", "127.0.0.1", "--json")
    assert made.returncode == 0, made.stderr
    assert {p.name for p in (tmp_path / "b").iterdir()} == {"ca.pem", "server.pem", "server.key", "crl.pem"}
    bad = run("revoke", "../etc", "--json")
    assert bad.returncode == 2 and "device id" in bad.stderr
    done = run("revoke", "kiosk-gone", "--crl-copy", str(tmp_path / "b" / "crl.pem"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["device_id"] == "kiosk-gone"
    store = CentralStore(f"sqlite:///{home / 'central.db'}")
    try:
        from central.cert_service import revoked_devices

        assert revoked_devices(store) == {"kiosk-gone"}
    finally:
        store.close()
