"""Issue 13, trust items on the TLS fleet (the shipped Mosquitto configuration, mutual TLS, ACLs): every
central publisher, the dashboard's status changes included, speaks TLS with the central's identity
(item 10); a stranger on the enrolment listener cannot take the central's client id (item 6)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from central.cert_service import CertService, cut_off
from central.ingest import IngestWorker
from central.models import Device, Submission
from central.store import CentralStore
from central.web.app import create_app
from central.web.revoke import revoke_kiosk
from sync.daemon.enrol import unverified_tls
from sync.daemon.renewal import tls_files
from sync.daemon.service import SyncDaemon
from sync.outbox.store import open_outbox
from sync.protocol.commands import verify_command
from sync.protocol.ids import receipt_number
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import new_client
from tests import test_central_cli_tls as cli_tls
from tests import test_trust_tls as trust_tls
from tests.helpers import wait_until
from tests.test_central_cli_tls import CENTRAL_CLI, TlsCentral, _kiosk_identity
from tests.test_dashboard import _add_operators, _login
from tests.test_trust_tls import probe

tls_central = cli_tls.tls_central  # the module-scoped TLS broker with the central's home


def test_a_status_set_in_the_dashboard_reaches_the_kiosk_over_mtls(tls_central: TlsCentral, tmp_path: Path) -> None:
    c, site = tls_central, "东四街道"
    device_id = f"k-{uuid.uuid4().hex[:8]}"
    kiosk = probe(c.broker.port, f"kiosk-{device_id}", _kiosk_identity(c, tmp_path / "kiosk", device_id))
    got: list[bytes] = []
    kiosk.client.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
    store = CentralStore(f"sqlite:///{tmp_path / 'dash.db'}")
    try:
        wait_until(lambda: kiosk.connack == ["Success"], what="the kiosk on the TLS broker")
        suback = threading.Event()
        kiosk.client.on_subscribe = lambda *_a: suback.set()
        kiosk.client.subscribe(f"kiosk/v1/{device_id}/down/cmd", qos=1)
        assert suback.wait(10)
        receipt, sub_id, now = receipt_number(device_id, 1, dt.datetime.now()), str(uuid.uuid4()), time.time()
        with store.session() as s, s.begin():
            s.add(Device(device_id=device_id, site=site, status="online", conn=1, status_at=now, last_seen=now,
                         version="1", telemetry_json="{}"))
            s.add(Submission(id=sub_id, device_id=device_id, seq=1, service_code="MZ-LNYD-001", receipt_no=receipt,
                             created_at=now, received_at=now, fields_json="[]", attachments_expected=0,
                             complete=True, digest=None))
        _add_operators(store)
        app = create_app(store, c.home, c.broker.url, session_secret="s" * 32)
        with TestClient(app) as web:
            token = _login(web, "wang")
            r = web.post(f"/applications/{sub_id}/move", data={"status": "accepted", "csrf": token})
            assert r.status_code == 200  # the decision page, after the redirect
            flashed = re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', r.text)
            assert any("已推送到 1 台终端" in f for f in flashed), flashed  # pushed over TLS, not "未能推送"
        wait_until(lambda: len(got) == 1, 15, "the status pushed by the dashboard at the kiosk")
        pushed = verify_command(c.keys.command_public_raw, got[0], device_id=device_id, site=site)
        assert pushed.action == "app_status" and pushed.args["entries"][0]["receipt_no"] == receipt
    finally:
        kiosk.stop()
        store.close()


def _stranger_on_the_enrolment_listener(c: TlsCentral, client_id: str) -> list[str]:
    """An anonymous client on the enrolment listener with the client id it chose; its CONNACK reason."""
    client = new_client(client_id)
    client.tls_set_context(unverified_tls())
    connack: list[str] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: connack.append(str(rc))
    client.connect("127.0.0.1", c.broker.enrol_port or 0, keepalive=30)
    client.loop_start()
    try:
        wait_until(lambda: bool(connack), what="the enrolment listener's answer")
    finally:
        client.disconnect()
        client.loop_stop()
    return connack


def test_a_stranger_on_the_enrolment_listener_cannot_kick_the_central_off(tls_central: TlsCentral,
                                                                          tmp_path: Path) -> None:
    c = tls_central
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    worker = IngestWorker(c.broker.url, store, c.keys, worker_id="0", backoff=Backoff(0.05, 0.5),
                          tls=c.ca.central_tls())
    connects: list[str] = []
    on_connected = worker.connection.on_connected
    assert on_connected is not None

    def counted() -> None:
        connects.append(worker.client_id)
        on_connected()

    worker.connection.on_connected = counted
    seen: list[bytes] = []
    kiosk_id = f"k-{uuid.uuid4().hex[:8]}"
    kiosk = probe(c.broker.port, f"kiosk-{kiosk_id}", _kiosk_identity(c, tmp_path / "kiosk", kiosk_id))
    kiosk.client.on_message = lambda _c, _u, m: seen.append(bytes(m.payload))
    worker.start()
    try:
        wait_until(lambda: worker.connected.is_set() and kiosk.connack == ["Success"], what="central and kiosk")
        kiosk.client.subscribe("kiosk/v1/_central/status", qos=1)
        wait_until(lambda: bool(seen), what="the central's presence at the kiosk")
        # What kiosks read of the central does not tell its client id.
        assert worker.client_id.encode() not in seen[-1] and b"central-" not in seen[-1]
        # The old guessable ids, and the patterns a stranger would try.
        for guess in ("central-0", f"central-{os.getpid()}-0", "central-ca-0", f"central-ca-{os.getpid()}",
                      "_central", "central"):
            assert _stranger_on_the_enrolment_listener(c, guess) == ["Success"]  # the listener is open ...
        # ... and the central is still on its first connection: had any guess kicked it, the control below
        # would count a second reconnection.
        assert worker.client_id.startswith("central-0-") and len(worker.client_id) == len("central-0-") + 32
        assert _stranger_on_the_enrolment_listener(c, worker.client_id) == ["Success"]  # the control: a known id
        wait_until(lambda: len(connects) >= 2, what="the control's takeover seen by the central")
        assert len(connects) == 2, connects
    finally:
        kiosk.stop()
        worker.stop()
        store.close()


def test_every_central_client_id_is_unguessable(tls_central: TlsCentral, tmp_path: Path) -> None:
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    try:
        ids = [IngestWorker(tls_central.broker.url, store, tls_central.keys, worker_id="0").client_id for _ in range(2)]
        ids += [CertService(tls_central.broker.url, store, tls_central.keys, tls_central.ca).client_id
                for _ in range(2)]
    finally:
        store.close()
    assert len(set(ids)) == 4
    for i in ids:
        assert re.fullmatch(r"central-(ca-)?0-[0-9a-f]{32}", i), i


# -- item 8: the broker reloads the CRL before the revoked kiosk's connection is dropped ----------------------

fleet = trust_tls.fleet  # the module-scoped TLS fleet: CA, broker, ingest worker, certificate service


@pytest.mark.slow
def test_the_dashboards_revoke_reloads_the_crl_before_it_drops_the_kiosk(fleet: trust_tls.Fleet,
                                                                         tmp_path: Path) -> None:
    home = tmp_path / "kiosk"
    device = trust_tls.enrol(fleet, home)
    outbox = open_outbox(home, device)
    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.3)).start()  # reconnects at once when dropped
    try:
        wait_until(daemon.connected.is_set, what="the kiosk connected")
        done = revoke_kiosk(fleet.store, fleet.ca.folder.parent, fleet.broker.url, device.device_id, reason="stolen",
                            crl_copy=fleet.tls_dir / "crl.pem", broker_reload=fleet.broker.reload)
        assert (done.crl_active, done.dropped) == (True, True)
        attempts = daemon.connect_attempts
        wait_until(lambda: daemon.connect_attempts >= attempts + 3, timeout=15, what="reconnect attempts")
        assert not daemon.connected.is_set()  # every reconnect met the new CRL
        assert trust_tls.refused_at_handshake(fleet.broker.port, tls_files(home))
    finally:
        daemon.stop()
        outbox.close()


def test_without_a_reload_the_revocation_says_the_crl_is_not_active(fleet: trust_tls.Fleet, tmp_path: Path) -> None:
    """No reload hook and nobody reloading: the kiosk is still dropped, and the operator is told."""
    device_id = f"k-{uuid.uuid4().hex[:8]}"
    done = cut_off(fleet.store, fleet.ca, device_id, broker_url=fleet.broker.url, tls=fleet.central_tls,
                   crl_copy=tmp_path / "crl.pem", wait_s=0.5)
    assert done.crl_active is False and done.revoked.device_id == device_id


@pytest.mark.slow
def test_cli_revoke_runs_the_reload_command_and_waits_for_the_crl(fleet: trust_tls.Fleet) -> None:
    assert fleet.broker.proc is not None
    device_id = f"k-{uuid.uuid4().hex[:8]}"
    out = subprocess.run([CENTRAL_CLI, "revoke", device_id, "--home", str(fleet.ca.folder.parent),
                          "--db", str(fleet.store.engine.url), "--broker", fleet.broker.url,
                          "--crl-copy", str(fleet.broker.installed_tls_dir / "crl.pem"),
                          "--broker-reload", f"kill -HUP {fleet.broker.proc.pid}", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    assert done["device_id"] == device_id and done["crl_active"] is True and done["dropped"] is True
    bad = subprocess.run([CENTRAL_CLI, "revoke", device_id, "--home", str(fleet.ca.folder.parent),
                          "--db", str(fleet.store.engine.url), "--broker-reload", "'unbalanced"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--broker-reload" in bad.stderr


# -- item 7: size limits in the shipped broker configuration, and what the central reads ----------------------


def test_a_2_mib_publish_on_the_enrolment_listener_is_refused_and_never_reaches_the_central(
        fleet: trust_tls.Fleet) -> None:
    stranger_id = f"k-{uuid.uuid4().hex[:8]}"
    client = new_client(stranger_id)
    client.tls_set_context(unverified_tls())
    connack: list[str] = []
    pubacks: dict[int, str] = {}
    gone = threading.Event()
    client.on_connect = lambda _c, _u, _f, rc, _p: connack.append(str(rc))
    client.on_publish = lambda _c, _u, mid, rc, _p: pubacks.__setitem__(mid, str(rc))
    client.on_disconnect = lambda *_a: gone.set()
    client.connect("127.0.0.1", fleet.broker.enrol_port or 0, keepalive=30)
    client.loop_start()
    answered = fleet.certs.answered
    try:
        wait_until(lambda: connack == ["Success"], what="the stranger on the enrolment listener")
        topic = f"kiosk/v1/_enrol/{stranger_id}/request"
        # 100 KiB: under the broker's packet limit, over what the central's certificate service reads.
        client.publish(topic, b"{" + b" " * (100 * 1024) + b"}", qos=1)
        small = client.publish(topic, b"{}", qos=1)  # a small (malformed) request after it, in order
        wait_until(lambda: small.mid in pubacks, what="the small request's PUBACK")
        wait_until(lambda: fleet.certs.answered >= answered + 1, what="the small request answered")
        assert fleet.certs.largest_payload < 64 * 1024  # the 100 KiB one was never delivered to the central
        # 2 MiB: over the broker's own limit: the broker cuts the stranger off and forwards nothing.
        big = client.publish(topic, b"{" + b" " * (2 * 1024 * 1024) + b"}", qos=1)
        wait_until(gone.is_set, what="the broker disconnecting the stranger")
        assert big.mid not in pubacks or pubacks[big.mid] != "Success"
    finally:
        client.disconnect()
        client.loop_stop()
    assert fleet.certs.largest_payload < 64 * 1024 and fleet.certs.connected.is_set()
    assert fleet.broker.proc is not None and fleet.broker.proc.poll() is None  # the broker is still up
    shipped = (Path(__file__).parents[1] / "packaging/broker/mosquitto.conf").read_text()
    assert re.search(r"^max_packet_size \d+$", shipped, re.M)
