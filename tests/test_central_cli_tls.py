"""``kiosk-central command`` and ``status`` against an mqtts:// broker (the shipped Mosquitto configuration,
mutual TLS, ACLs) with the central's own TLS identity from its home, and ``serve --gap-timeout``."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from central.ca import FleetCA, new_key
from central.keys import CentralKeys
from central.models import Device, Submission
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from sync.daemon.renewal import identity_pem
from sync.outbox.store import Outbox
from sync.protocol.commands import verify_command
from sync.protocol.enrolment import make_csr
from sync.protocol.envelope import Envelope
from sync.protocol.ids import receipt_number
from sync.runtime.mqtt import TlsFiles
from tests.helpers import Wire, serve_home, wait_until
from tests.test_trust_tls import probe

CENTRAL_CLI = str(Path(sys.executable).with_name("kiosk-central"))


@dataclass
class TlsCentral:
    home: Path
    keys: CentralKeys
    ca: FleetCA
    broker: MosquittoBroker
    db: str


@pytest.fixture(scope="module")
def tls_central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCentral]:
    root = tmp_path_factory.mktemp("tls-cli")
    home = root / "central"
    keys = CentralKeys.generate()
    keys.save(home)
    ca = FleetCA.open(home)  # the CA the CLI finds in --home, and which signed the broker
    with MosquittoBroker(tls_dir=ca.server_files(root / "broker-files", ["127.0.0.1", "localhost"])) as broker:
        yield TlsCentral(home, keys, ca, broker, f"sqlite:///{root / 'central.db'}")


def _kiosk_identity(c: TlsCentral, folder: Path, device_id: str) -> TlsFiles:
    folder.mkdir(parents=True, exist_ok=True)
    key = new_key()
    issued = c.ca.sign_device_csr(make_csr(key, device_id), device_id)
    (folder / "id.pem").write_bytes(identity_pem(key, issued.cert_pem))
    return TlsFiles(c.ca.ca_path, folder / "id.pem", None)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CENTRAL_CLI, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_command_and_status_over_mtls(tls_central: TlsCentral, tmp_path: Path) -> None:
    c = tls_central
    device_id = f"k-{uuid.uuid4().hex[:8]}"
    kiosk = probe(c.broker.port, f"kiosk-{device_id}", _kiosk_identity(c, tmp_path / "kiosk", device_id))
    got: list[bytes] = []
    kiosk.client.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
    try:
        wait_until(lambda: kiosk.connack == ["Success"], what="the kiosk on the TLS broker")
        suback = threading.Event()
        kiosk.client.on_subscribe = lambda *_a: suback.set()
        kiosk.client.subscribe(f"kiosk/v1/{device_id}/down/cmd", qos=1)
        assert suback.wait(10)
        out = _cli("command", device_id, "diagnostics", "--broker", c.broker.url, "--home", str(c.home), "--json")
        assert out.returncode == 0, out.stderr
        sent = json.loads(out.stdout)
        assert sent["devices"] == [device_id]
        wait_until(lambda: len(got) == 1, 15, "the command at the kiosk")
        command = verify_command(c.keys.command_public_raw, got[0], device_id=device_id, site="东四街道")
        assert (command.id, command.action) == (sent["command_id"], "diagnostics")

        # status: stored, then pushed over TLS to the site's kiosk.
        store = CentralStore(c.db)
        receipt = receipt_number(device_id, 1, dt.datetime.now())
        with store.session() as s, s.begin():
            s.add(Device(device_id=device_id, site="东四街道", status="online", conn=1, status_at=time.time(),
                         last_seen=time.time(), version="1", telemetry_json="{}"))
            s.add(Submission(id=str(uuid.uuid4()), device_id=device_id, seq=1, service_code="MZ-LNYD-001",
                             receipt_no=receipt, created_at=time.time(), received_at=time.time(), fields_json="[]",
                             attachments_expected=0, complete=True, digest=None))
        store.close()
        out = _cli("status", receipt, "受理", "--broker", c.broker.url, "--home", str(c.home), "--db", c.db,
                   "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["devices"] == [device_id]
        wait_until(lambda: len(got) == 2, 15, "the status at the kiosk")
        pushed = verify_command(c.keys.command_public_raw, got[1], device_id=device_id, site="东四街道")
        assert pushed.action == "app_status" and pushed.args["entries"][0]["receipt_no"] == receipt
    finally:
        kiosk.stop()


def test_tls_cli_refuses_a_broker_its_ca_did_not_sign(tls_central: TlsCentral, tmp_path: Path) -> None:
    other = tmp_path / "other-central"
    CentralKeys.generate().save(other)  # a central whose own CA (made on first use) did not sign this broker
    out = _cli("command", "k-any", "diagnostics", "--broker", tls_central.broker.url, "--home", str(other))
    assert out.returncode == 1 and "not sent" in out.stderr
    bad = _cli("command", "k-any", "diagnostics", "--broker", tls_central.broker.url, "--home", str(tmp_path / "none"))
    assert bad.returncode == 2 and "kiosk-central command:" in bad.stderr  # no keys there at all


def test_gap_timeout_option_is_checked() -> None:
    for value in ("soon", "0", "-5", "1e9"):
        out = _cli("serve", "--broker", "mqtt://127.0.0.1:1", "--gap-timeout", value)
        assert out.returncode == 2 and "--gap-timeout" in out.stderr


@pytest.mark.slow
def test_serve_asks_for_a_gap_after_gap_timeout(broker: MosquittoBroker, tmp_path: Path,
                                                central_keys: CentralKeys) -> None:
    home, db, device = serve_home(tmp_path, broker.url, central_keys)
    outbox = Outbox(tmp_path / "kiosk" / "outbox.db")
    bodies = [outbox.enqueue_submission(device, "MZ-LNYD-001", []) for _ in range(3)]
    rows = [outbox.find(r.message_id) for r in bodies]
    outbox.close()
    first, third = (Envelope.from_bytes(r.body) for r in (rows[0], rows[2]) if r is not None and r.body)
    assert (first.seq, third.seq) == (1, 3)
    server = subprocess.Popen([CENTRAL_CLI, "serve", "--broker", broker.url, "--home", str(home), "--db", db,
                               "--gap-timeout", "0.5"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wire = Wire(broker, device.device_id)
    try:
        def acked() -> bool:
            return {first.id, third.id} <= {i for a in wire.acks for i in a.ids}

        def delivered() -> bool:  # the central may not be subscribed yet: send again until both are acked
            wire.publish(device.device_id, "submission", first.to_bytes())
            wire.publish(device.device_id, "submission", third.to_bytes())
            try:
                wait_until(acked, 1.0, "the acks")
            except AssertionError:
                return False
            return True

        wait_until(delivered, 30, "both submissions acked by kiosk-central serve")
        # The default timeout is 600 s; with --gap-timeout 0.5 the missing number 2 is asked for within seconds.
        wait_until(lambda: any(a.resend == ((2, 2),) for a in wire.acks), 15, "the resend request for seq 2")
    finally:
        wire.close()
        server.terminate()
        server.wait(20)
