"""Enrolment end to end: the central issues a one-time expiring token (text and QR); a kiosk validates
it, stores its secrets safely, enrols, and says so only when the central confirms. Reused, expired,
forged and foreign tokens are refused with a clear message."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.enrolment import device_key, issue_token, list_tokens
from central.keys import CentralKeys
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from kiosk.service_mode.provisioning import provision
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.models import OutboxMessage, State
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.protocol.enrolment import EnrolmentError, read_token
from sync.runtime.mqtt import new_client
from tests.helpers import Central, make_device, wait_until

BIN = Path(sys.executable).parent


def test_token_issued_then_kiosk_enrols_and_the_central_confirms(
        tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    issued = issue_token(central.store, central_keys, site="朝阳门街道", broker_url=broker.url)
    home = tmp_path / "kiosk"
    home.mkdir()
    result = provision(home, issued.token, timeout_s=20)
    assert result.ok and result.code == "enrolled" and result.device_id == issued.device_id
    device = DeviceConfig.load(home)
    assert device.device_id == issued.device_id and device.site == "朝阳门街道"
    assert device.seal_public_key == central_keys.seal.public_raw
    secrets = home / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for f in secrets.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "device.json").stat().st_mode) == 0o600
    assert device_key(central.store, issued.device_id) is not None
    [token] = list_tokens(central.store)
    assert token["used_at"] is not None


def test_a_reused_token_is_refused_by_the_central_and_rolled_back(
        tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    issued = issue_token(central.store, central_keys, site="S", broker_url=broker.url)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert provision(first, issued.token, timeout_s=20).ok
    again = provision(second, issued.token, timeout_s=20)
    assert not again.ok and again.code == "token_reused" and "已被使用" in again.message
    assert not (second / "device.json").exists() and not (second / "secrets").exists()


def test_expired_forged_and_foreign_tokens(tmp_path: Path, broker: MosquittoBroker, central: Central,
                                            central_keys: CentralKeys) -> None:
    home = tmp_path / "k"
    home.mkdir()
    expired = issue_token(central.store, central_keys, site="S", broker_url=broker.url, ttl_s=-1)
    r = provision(home, expired.token)
    assert (r.ok, r.code) == (False, "expired") and "过期" in r.message

    good = issue_token(central.store, central_keys, site="S", broker_url=broker.url)
    raw = json.loads(base64.urlsafe_b64decode(good.token.split(":", 1)[1] + "=="))
    raw["t"]["site"] = "别的街道"  # edited after signing
    forged = "KIOSKPROV1:" + base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    r = provision(home, forged)
    assert (r.ok, r.code) == (False, "bad_signature")
    assert not (home / "device.json").exists()

    # Validly signed by another central that shares the broker: this central never issued it.
    other, other_store = CentralKeys.generate(), CentralStore(f"sqlite:///{tmp_path / 'other.db'}")
    foreign = issue_token(other_store, other, site="S", broker_url=broker.url)
    # This central refuses it, but its refusal is an ack signed with *its* key, not the token's: the kiosk
    # cannot tell it from a forgery, acts on nothing and keeps waiting for the central that issued the token.
    r = provision(home, foreign.token, timeout_s=3)
    assert (r.ok, r.code) == (False, "pending")
    ob = Outbox(home / OUTBOX_FILE)
    try:
        with Session(ob.engine) as s:
            states = list(s.scalars(select(OutboxMessage.state).where(OutboxMessage.kind == "event")))
        assert states and State.ACKED not in states and State.REJECTED not in states
    finally:
        ob.close()
    # Pinning the fleet's command key at install makes the kiosk refuse it before any network.
    (home / "central-command.pub").write_text(base64.b64encode(central_keys.command_public_raw).decode())
    fresh = issue_token(other_store, other, site="S", broker_url=broker.url)
    r = provision(home, fresh.token)
    assert (r.ok, r.code) == (False, "wrong_central")
    other_store.close()


def test_reprovisioning_refuses_while_submissions_are_undelivered(tmp_path: Path, broker: MosquittoBroker,
                                                                 central: Central, central_keys: CentralKeys) -> None:
    home = tmp_path / "k"
    device = make_device(home, "mqtt://127.0.0.1:9", central_keys)  # a dead broker: nothing leaves
    ob = Outbox(home / OUTBOX_FILE)
    ob.enqueue_submission(device, "X", [{"id": "n", "kind": "name", "label": "姓名", "value": "郑十"}])
    ob.close()
    issued = issue_token(central.store, central_keys, site="S", broker_url=broker.url)
    r = provision(home, issued.token)
    assert (r.ok, r.code) == (False, "undelivered")
    assert DeviceConfig.load(home).device_id == device.device_id  # untouched


@pytest.mark.slow
def test_cli_enroll_with_qr_then_provision_from_the_qr_image(tmp_path: Path, broker: MosquittoBroker) -> None:
    central_home = tmp_path / "central"
    assert subprocess.run([str(BIN / "kiosk-central"), "init", "--home", str(central_home)]).returncode == 0
    qr = tmp_path / "enrol.png"
    out = subprocess.run([str(BIN / "kiosk-central"), "enroll", "--home", str(central_home), "--site", "测试街道",
                          "--broker", broker.url, "--qr", str(qr), "--json"],
                         capture_output=True, text=True, check=True)
    issued = json.loads(out.stdout)
    assert qr.exists() and issued["token"].startswith("KIOSKPROV1:")
    serve = subprocess.Popen([str(BIN / "kiosk-central"), "serve", "--home", str(central_home), "--broker",
                              broker.url])
    try:
        # A technician enrols against a running central: wait until it has subscribed and said so (its retained
        # online status), as a loaded machine may take seconds to start it.
        wait_central_online(broker, serve)
        home = tmp_path / "kiosk"
        done = subprocess.run([str(BIN / "kiosk"), "provision", "--home", str(home), "--qr", str(qr), "--json",
                               "--timeout", "30"], capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["device_id"] == issued["device_id"]
    finally:
        serve.terminate()
        serve.wait(15)
    listed = subprocess.run([str(BIN / "kiosk-central"), "enroll", "--list", "--json", "--home", str(central_home)],
                            capture_output=True, text=True, check=True)
    assert json.loads(listed.stdout)[0]["used_at"] is not None


def wait_central_online(broker: MosquittoBroker, serve: subprocess.Popen[bytes], timeout: float = 60) -> None:
    seen: list[bytes] = []
    client = new_client(f"test-watch-{time.monotonic_ns()}")
    client.on_message = lambda _c, _u, m: seen.append(bytes(m.payload))
    client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(topics.CENTRAL_STATUS, qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        wait_until(lambda: serve.poll() is not None or any(b'"online"' in p for p in seen), timeout,
                   "the central's online status")
        assert serve.poll() is None, "kiosk-central serve exited"
    finally:
        client.disconnect()
        client.loop_stop()


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300).map(
    lambda b: "KIOSKPROV1:" + base64.urlsafe_b64encode(b).decode())))
def test_read_token_refuses_garbage_cleanly(text: str) -> None:
    with pytest.raises(EnrolmentError):
        read_token(text, now=time.time())
