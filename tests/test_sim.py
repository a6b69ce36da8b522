"""``kiosk-sim``: headless kiosks on the real sync engine, as a command and as a library."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography import x509

from central.ca import FleetCA, common_name
from central.keys import CentralKeys
from devtools.broker import MosquittoBroker
from devtools.sim import SITE_NAMES, SimError, SimFleet, fictional_fields, fictional_id_number
from sync.protocol.masking import mask_field
from tests.helpers import Central, sim_enroll, start_central, wait_until

SIM = str(Path(sys.executable).with_name("kiosk-sim"))
SUMMARY_KEYS = {"devices", "submitted", "acked", "pending", "seconds", "msgs_per_s"}


def _seal_key(keys: CentralKeys) -> str:
    return base64.b64encode(keys.seal.public_raw).decode()


def _prefix() -> str:
    return f"s{uuid.uuid4().hex[:6]}"


def test_cli_five_kiosks_three_submissions_each(tmp_path: Path, broker: MosquittoBroker, central: Central,
                                                central_keys: CentralKeys) -> None:
    central_home = tmp_path / "central"
    central_keys.save(central_home)
    prefix = _prefix()
    out = subprocess.run([SIM, "--devices", "5", "--submissions", "3", "--broker", broker.url,
                          "--central-home", str(central_home), "--id-prefix", prefix, "--site-prefix", "北京市东城区",
                          "--home", str(tmp_path / "sims"), "--seed", "7", "--timeout", "60", "--json",
                          "--enroll-db", f"sqlite:///{tmp_path / 'central.db'}"],
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert set(summary) >= SUMMARY_KEYS
    assert summary["devices"] == 5 and summary["submitted"] == 15 and summary["acked"] == 15
    assert summary["pending"] == 0 and summary["seconds"] > 0 and summary["msgs_per_s"] > 0
    assert central.store.count() == 15 and central.store.duplicates() == 0
    rows = central.store.list_masked()
    assert {r["device_id"] for r in rows} == {f"{prefix}-{i:04d}" for i in range(1, 6)}
    # Graceful exit: every kiosk said offline, with its site.
    for i in range(1, 6):
        wait_until(lambda i=i: (central.store.device(f"{prefix}-{i:04d}") or {}).get("status") == "offline",
                   what=f"kiosk {i} offline")
    first = central.store.device(f"{prefix}-0001")
    assert first is not None and first["site"] == "北京市东城区" + SITE_NAMES[0]
    assert (tmp_path / "sims" / f"{prefix}-0001" / "outbox.db").exists()  # --home kept


def test_cli_with_seal_key_and_text_output(tmp_path: Path, broker: MosquittoBroker, central: Central,
                                           central_keys: CentralKeys) -> None:
    out = subprocess.run([SIM, "--devices", "2", "--submissions", "2", "--broker", broker.url,
                          "--seal-key", _seal_key(central_keys), "--id-prefix", _prefix(), "--rate", "20",
                          "--command-key", base64.b64encode(central_keys.command_public_raw).decode(),  # signed acks
                          "--enroll-db", f"sqlite:///{tmp_path / 'central.db'}"],
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    assert "4/4 submissions acknowledged" in out.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--devices", "0"], "--devices must be between 1 and 9999"),
    (["--submissions", "-1"], "--submissions must not be negative"),
    (["--rate", "-2"], "--rate must not be negative"),
    (["--broker", "http://x"], "broker URL must look like mqtt://host:port"),
    (["--seal-key", "not base64!"], "base64"),
    (["--seal-key", base64.b64encode(b"short").decode()], "32 bytes"),
    (["--no-key"], "--central-home DIR or --seal-key"),
    (["--central-home", "/nonexistent/central"], "no central keys"),
    (["--id-prefix", "_bad"], "--id-prefix"),
    (["--broker", "mqtts://127.0.0.1:1"], "an mqtts:// broker needs --tls CA_DIR"),
    (["--tls", "/nonexistent/ca"], "no fleet CA"),
])
def test_cli_bad_arguments_give_a_clear_error(args: list[str], message: str, central_keys: CentralKeys) -> None:
    argv = ["--broker", "mqtt://127.0.0.1:1"]
    if "--no-key" in args:
        args = [a for a in args if a != "--no-key"]
    elif "--seal-key" not in args and "--central-home" not in args:
        argv += ["--seal-key", _seal_key(central_keys)]
    if "--broker" in args:
        argv = argv[2:]
    out = subprocess.run([SIM, *argv, *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_fictional_data_is_about_a_kilobyte_and_masks_like_real_data() -> None:
    import random

    code, fields = fictional_fields(1, random.Random(1))
    size = len(json.dumps({"service_code": code, "fields": fields}, ensure_ascii=False).encode())
    assert 700 <= size <= 1600
    by_id = {f["id"]: f for f in fields}
    assert by_id["applicant_name"]["value"] == "测试用户0001"
    number = fictional_id_number(random.Random(3))
    assert len(number) == 18 and number.startswith("110101")
    assert mask_field("id_number", number) == number[:6] + "********" + number[-4:]


def test_library_fleet_kill_fires_the_will_and_restart_reconnects(
        broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    fleet = SimFleet(broker.url, 3, seal_key=_seal_key(central_keys), id_prefix=_prefix(), backoff=(0.05, 0.5),
                     enroll=sim_enroll, seed=1,
                     command_key=base64.b64encode(central_keys.command_public_raw).decode())  # checks signed acks
    with fleet:
        fleet.submit(4)
        assert fleet.wait_all_acked(30)
        dev = fleet.kiosks[1].device_id
        wait_until(lambda: (central.store.device(dev) or {}).get("status") == "online", what="online")
        conn = fleet.daemon(1).conn
        fleet.kill(1)
        wait_until(lambda: (central.store.device(dev) or {}).get("status") == "offline", what="the Will")
        assert (central.store.device(dev) or {})["conn"] == conn
        fleet.restart(1)
        wait_until(lambda: (central.store.device(dev) or {}).get("conn", 0) > conn, what="reconnected")
        assert (central.store.device(dev) or {})["status"] == "online"
        assert fleet.summary()["acked"] == 12
    assert central.store.count() == 12 and central.store.duplicates() == 0


def test_library_rejects_bad_settings(central_keys: CentralKeys) -> None:
    with pytest.raises(SimError):
        SimFleet("mqtt://127.0.0.1:1", 0, seal_key=_seal_key(central_keys))
    with pytest.raises(SimError):
        SimFleet("mqtt://127.0.0.1:1", 1, seal_key="AAAA")
    with pytest.raises(SimError, match="needs --tls"):
        SimFleet("mqtts://127.0.0.1:1", 1, seal_key=_seal_key(central_keys))  # a TLS broker, no certificates


def test_cli_tls_kiosks_deliver_over_the_shipped_tls_broker(tmp_path: Path, central_keys: CentralKeys) -> None:
    central_home = tmp_path / "central"
    central_keys.save(central_home)
    ca = FleetCA.open(central_home)
    with MosquittoBroker(tls_dir=ca.server_files(tmp_path / "broker-files", ["127.0.0.1"])) as tls_broker:
        central = start_central(tls_broker.url, central_home / "central.db", central_keys, tls=ca.central_tls())
        try:
            prefix = _prefix()
            # --tls with the CA's own folder; the kiosks' device keys go to the central home's database.
            out = subprocess.run([SIM, "--devices", "3", "--submissions", "2", "--broker", tls_broker.url,
                                  "--central-home", str(central_home), "--tls", str(central_home / "ca"),
                                  "--id-prefix", prefix, "--home", str(tmp_path / "sims"), "--seed", "3",
                                  "--timeout", "60", "--json"], capture_output=True, text=True, timeout=90)
            assert out.returncode == 0, out.stderr
            summary = json.loads(out.stdout)
            assert summary["submitted"] == 6 and summary["acked"] == 6 and summary["pending"] == 0
            assert central.store.count() == 6 and central.store.duplicates() == 0
        finally:
            central.worker.stop()
        log = tls_broker.log_path.read_text(errors="replace")
    for i in range(1, 4):
        device_id = f"{prefix}-{i:04d}"
        assert f"u'{device_id}')" in log  # connected under its certificate's identity (the ACL's user name)
        secrets = tmp_path / "sims" / device_id / "secrets"
        cert = x509.load_pem_x509_certificate((secrets / "tls_client.pem").read_bytes())
        assert common_name(cert) == device_id
        assert (secrets / "tls_client.pem").stat().st_mode & 0o077 == 0
        assert (secrets / "fleet_ca.pem").read_bytes() == ca.cert_pem


def test_cli_tls_needs_an_mqtts_broker(tmp_path: Path, central_keys: CentralKeys) -> None:
    FleetCA.open(tmp_path / "central")  # a real CA (given as the central's home): only the URL is wrong
    out = subprocess.run([SIM, "--broker", "mqtt://127.0.0.1:1", "--seal-key", _seal_key(central_keys),
                          "--tls", str(tmp_path / "central"), "--home", str(tmp_path / "sims")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "--tls needs an mqtts:// broker" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "sims").exists()  # refused before any kiosk was provisioned


def test_tls_identity_is_kept_while_current_and_replaced_for_another_ca(tmp_path: Path) -> None:
    from central.ca import CAError
    from devtools.provision_tls import issue_kiosk_identity, load_ca

    ca = load_ca(FleetCA.open(tmp_path / "central").folder)
    home = tmp_path / "kiosk"
    first = issue_kiosk_identity(ca, home, "k-0001").read_bytes()
    assert issue_kiosk_identity(load_ca(tmp_path / "central"), home, "k-0001").read_bytes() == first  # kept
    other = FleetCA.open(tmp_path / "other")
    assert issue_kiosk_identity(other, home, "k-0001").read_bytes() != first  # another fleet: a new identity
    other.verify((home / "secrets" / "tls_client.pem").read_bytes())
    assert (home / "secrets" / "fleet_ca.pem").read_bytes() == other.cert_pem
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "ca_key.pem").write_text("not a key")
    (tmp_path / "broken" / "ca_cert.pem").write_bytes(ca.cert_pem)
    with pytest.raises(CAError, match="unreadable"):
        load_ca(tmp_path / "broken")
