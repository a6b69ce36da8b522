"""The command-line contract: real processes, real broker, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from central.keys import CentralKeys
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from tests.helpers import enroll, make_device, wait_until

BIN = Path(sys.executable).parent
FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "孙七"}]


def run(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60,
                          **kw)  # type: ignore[call-overload,no-any-return]


def test_status_json_shape(tmp_path: Path, broker: MosquittoBroker, central_keys: CentralKeys) -> None:
    home = tmp_path / "k"
    device = make_device(home, broker.url, central_keys)
    ob = Outbox(home / OUTBOX_FILE)
    ob.enqueue_submission(device, "X", FIELDS)
    ob.close()
    out = run("kiosk", "status", "--json", "--home", str(home))
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["device_id"] == device.device_id
    assert status["connected"] is False
    assert status["outbox"]["pending"] == 1 and status["outbox"]["acked"] == 0
    assert isinstance(status["oldest_pending_s"], float)


def test_status_of_an_unprovisioned_kiosk(tmp_path: Path) -> None:
    out = run("kiosk", "status", "--json", "--home", str(tmp_path))
    assert out.returncode == 0
    assert json.loads(out.stdout)["device_id"] is None


def test_syncd_refuses_to_start_unprovisioned(tmp_path: Path) -> None:
    out = run("kiosk-syncd", "--home", str(tmp_path))
    assert out.returncode == 2 and "not provisioned" in out.stderr


def test_corrupt_device_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "device.json").write_text("{not json")
    out = run("kiosk-syncd", "--home", str(tmp_path))
    assert out.returncode == 2 and "unreadable" in out.stderr and "Traceback" not in out.stderr


def test_provision_with_a_bad_token_says_why(tmp_path: Path) -> None:
    out = run("kiosk", "provision", "KIOSKPROV1:not-a-token", "--home", str(tmp_path))
    assert out.returncode == 1 and "开通码" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "device.json").exists()


def test_central_init_refuses_to_replace_keys(tmp_path: Path) -> None:
    first = run("kiosk-central", "init", "--json", "--home", str(tmp_path))
    assert first.returncode == 0
    keys = json.loads(first.stdout)
    assert len(keys["seal_key_id"]) == 16
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    again = run("kiosk-central", "init", "--home", str(tmp_path))
    assert again.returncode == 2 and "refusing" in again.stderr
    assert json.loads(run("kiosk-central", "keys", "--home", str(tmp_path)).stdout) == {
        k: keys[k] for k in ("seal_public_key", "seal_key_id", "command_public_key")}


@pytest.mark.slow
def test_processes_deliver_end_to_end(tmp_path: Path, broker: MosquittoBroker) -> None:
    """``kiosk-central serve`` and ``kiosk-syncd`` as real processes, stopped with SIGTERM."""
    central_home = tmp_path / "central"
    assert run("kiosk-central", "init", "--home", str(central_home)).returncode == 0
    keys = CentralKeys.load(central_home)
    home = tmp_path / "kiosk"
    device = make_device(home, broker.url, keys)
    enrolment = CentralStore(f"sqlite:///{central_home / 'central.db'}")  # the kiosk's key, as enrolment does
    enroll(enrolment, device)
    enrolment.close()
    ob = Outbox(home / OUTBOX_FILE)
    receipts = [ob.enqueue_submission(device, "MZ-LNYD-001", FIELDS) for _ in range(3)]
    env = {**os.environ, "KIOSK_LOG_LEVEL": "INFO"}
    central = subprocess.Popen([str(BIN / "kiosk-central"), "serve", "--home", str(central_home),
                                "--broker", broker.url], stderr=subprocess.PIPE, text=True, env=env)
    syncd = subprocess.Popen([str(BIN / "kiosk-syncd"), "--home", str(home)], stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        wait_until(lambda: ob.counts()["acked"] == 3, timeout=30, what="three acks")
        status = json.loads(run("kiosk", "status", "--json", "--home", str(home)).stdout)
        assert status["connected"] is True and status["outbox"]["acked"] == 3
    finally:
        syncd.terminate()
        central.terminate()
        syncd_err = syncd.communicate(timeout=15)[1]
        central_err = central.communicate(timeout=15)[1]
    assert syncd.returncode == 0 and central.returncode == 0
    assert json.loads(run("kiosk", "status", "--json", "--home", str(home)).stdout)["connected"] is False
    listed = json.loads(run("kiosk-central", "submissions", "--json", "--home", str(central_home)).stdout)
    assert sorted(r["receipt_no"] for r in listed) == sorted(r.receipt_no for r in receipts)
    assert all(r["fields"][0]["value"] == "孙*" for r in listed)
    # Personal data never in the logs.
    assert "孙七" not in syncd_err + central_err
    assert "acknowledged" in syncd_err
    ob.close()


def test_device_config_round_trip(tmp_path: Path) -> None:
    cfg = DeviceConfig("k-1", "site", "mqtt://127.0.0.1:1883", "A" * 43 + "=")
    cfg.save(tmp_path)
    assert DeviceConfig.load(tmp_path) == cfg


@pytest.mark.parametrize(("value", "why"), [("0", "give between 1 and 64"), ("65", "give between 1 and 64"),
                                            ("many", "is not a whole number")])
def test_syncd_batch_size_out_of_range_is_refused(tmp_path: Path, value: str, why: str) -> None:
    out = run("kiosk-syncd", "--home", str(tmp_path), "--batch-size", value)
    assert out.returncode == 2 and "--batch-size" in out.stderr and why in out.stderr
