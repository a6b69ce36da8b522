"""Signed commands (down/cmd): signature, target, times and replays are checked; tampered, unsigned,
expired, replayed and wrong-target commands are refused with a result event; maintenance, config and
diagnostics are executed end to end through the real broker, and ``kiosk-central command`` sends them."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.commands import fleet_device_ids, publish, send_command
from central.keys import CentralKeys
from central.models import Device
from devtools.broker import MosquittoBroker
from sync.daemon.commands import CommandExecutor
from sync.daemon.service import SyncDaemon
from sync.device import DeviceConfig
from sync.kiosk_config import CONFIG_FILE
from sync.outbox.store import Outbox
from sync.protocol import commands as proto
from sync.protocol.commands import Command, CommandRefused, new_command, sign_command, verify_command
from sync.protocol.ids import new_message_id
from tests.helpers import Central, start_daemon, wait_until

BIN = Path(sys.executable).parent
DEVICE = "k-0001"
SITE = "中山街道"
NOW = 1_750_000_000.0
NAME = "周八"  # a resident's name: must never appear in a command result


@pytest.fixture(scope="module")
def keys() -> CentralKeys:
    return CentralKeys.generate()


def _other_private() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                      serialization.NoEncryption())


def _cmd(action: str = "maintenance", args: dict[str, Any] | None = None, target: dict[str, Any] | None = None,
         *, issued: float = NOW, ttl: float = 300.0) -> Command:
    return Command(id=new_message_id(), action=action,
                   args={"on": True, "message": "系统升级"} if args is None else args,
                   target={"device": DEVICE} if target is None else target, issued_at=issued,
                   expires_at=issued + ttl)


def _verify(keys: CentralKeys, payload: bytes, *, now: float = NOW, device_id: str = DEVICE,
            site: str = SITE) -> Command:
    return verify_command(keys.command_public_raw, payload, device_id=device_id, site=site, now=now)


def _refused(keys: CentralKeys, payload: bytes, **kw: Any) -> CommandRefused:
    with pytest.raises(CommandRefused) as info:
        _verify(keys, payload, **kw)
    return info.value


def _rewrap(payload: bytes, edit: Any) -> bytes:
    wire = json.loads(payload)
    edit(wire)
    return json.dumps(wire, ensure_ascii=False).encode()


# -- sign / verify ---------------------------------------------------------------------------------------


def test_signed_command_round_trips(keys: CentralKeys) -> None:
    cmd = _cmd()
    payload = sign_command(keys.command_private_raw, cmd)
    wire = json.loads(payload)
    assert set(wire) == {"v", "cmd", "sig"} and wire["v"] == 1
    assert payload == proto.canonical_json(wire)  # canonical: sorted keys, no spaces, UTF-8
    assert _verify(keys, payload) == cmd


def test_new_command_checks_args_and_sets_times(keys: CentralKeys) -> None:
    cmd = new_command("config", {"set": {"idle_timeout_s": 90}}, proto.target_site(SITE), ttl_s=60, now=NOW)
    assert (cmd.issued_at, cmd.expires_at, cmd.target) == (NOW, NOW + 60, {"site": SITE})
    assert _verify(keys, sign_command(keys.command_private_raw, cmd)).args == {"set": {"idle_timeout_s": 90}}
    with pytest.raises(CommandRefused):
        new_command("config", {"set": {"root_password": "x"}}, proto.target_all())
    with pytest.raises(CommandRefused):
        new_command("reboot", {}, proto.target_all())
    with pytest.raises(ValueError):
        new_command("diagnostics", {}, proto.target_all(), ttl_s=30 * 86400)


def test_tampered_body_is_refused(keys: CentralKeys) -> None:
    payload = sign_command(keys.command_private_raw, _cmd(args={"on": True, "message": "维护"}))
    tampered = _rewrap(payload, lambda w: w["cmd"]["args"].update(message="免费领取"))
    assert _refused(keys, tampered).code == "bad_signature"
    retargeted = _rewrap(payload, lambda w: w["cmd"].update(target={"all": True}))
    assert _refused(keys, retargeted).code == "bad_signature"
    extended = _rewrap(payload, lambda w: w["cmd"].update(expires_at=w["cmd"]["expires_at"] + 86400))
    assert _refused(keys, extended).code == "bad_signature"


def test_tampered_or_foreign_signature_is_refused(keys: CentralKeys) -> None:
    cmd = _cmd()
    payload = sign_command(keys.command_private_raw, cmd)
    sig = bytearray(base64.b64decode(json.loads(payload)["sig"]))
    sig[10] ^= 1
    flipped = _rewrap(payload, lambda w: w.update(sig=base64.b64encode(bytes(sig)).decode()))
    err = _refused(keys, flipped)
    assert err.code == "bad_signature" and err.command_id == cmd.id
    assert _refused(keys, sign_command(_other_private(), cmd)).code == "bad_signature"
    assert _refused(keys, _rewrap(payload, lambda w: w.update(sig="not base64!"))).code == "bad_signature"
    assert _refused(keys, _rewrap(payload, lambda w: w.update(sig=12))).code == "bad_signature"


def test_unsigned_command_is_refused(keys: CentralKeys) -> None:
    cmd = _cmd()
    for wire in ({"v": 1, "cmd": cmd.to_dict()}, {"v": 1, "cmd": cmd.to_dict(), "sig": ""},
                 {"v": 1, "cmd": cmd.to_dict(), "sig": None}):
        err = _refused(keys, json.dumps(wire).encode())
        assert err.code == "unsigned" and err.command_id == cmd.id


def test_expired_and_not_yet_valid_commands_are_refused(keys: CentralKeys) -> None:
    payload = sign_command(keys.command_private_raw, _cmd(issued=NOW, ttl=60))
    assert _verify(keys, payload, now=NOW + 59.9)
    assert _refused(keys, payload, now=NOW + 60.5).code == "expired"
    assert _verify(keys, payload, now=NOW - 299)  # clocks may differ a little
    assert _refused(keys, payload, now=NOW - 301).code == "not_yet_valid"
    too_long = _cmd(ttl=proto.MAX_TTL_S + 1)
    assert _refused(keys, sign_command(keys.command_private_raw, too_long)).code == "malformed"


def test_wrong_target_is_refused_and_site_and_all_are_accepted(keys: CentralKeys) -> None:
    sign = keys.command_private_raw
    assert _refused(keys, sign_command(sign, _cmd(target={"device": "k-0002"}))).code == "wrong_target"
    assert _refused(keys, sign_command(sign, _cmd(target={"site": "别的街道"}))).code == "wrong_target"
    assert _refused(keys, sign_command(sign, _cmd(target={"site": SITE})), site="").code == "wrong_target"
    assert _verify(keys, sign_command(sign, _cmd(target={"site": SITE}))).target == {"site": SITE}
    assert _verify(keys, sign_command(sign, _cmd(target={"all": True}))).target == {"all": True}
    for bad in ({"all": False}, {"device": DEVICE, "site": SITE}, {}, {"device": "../x"}):
        assert _refused(keys, sign_command(sign, _cmd(target=bad))).code == "malformed"


@pytest.mark.parametrize(("action", "args", "code"), [
    ("reboot", {}, "unknown_action"),
    ("shell", {"cmd": "rm -rf /"}, "unknown_action"),
    ("maintenance", {}, "bad_args"),
    ("maintenance", {"on": "yes"}, "bad_args"),
    ("maintenance", {"on": True, "message": "x" * 201}, "bad_args"),
    ("maintenance", {"on": True, "extra": 1}, "bad_args"),
    ("config", {"set": {}}, "bad_args"),
    ("config", {"set": {"heartbeat_interval_s": 4}}, "bad_args"),
    ("config", {"set": {"heartbeat_interval_s": True}}, "bad_args"),
    ("config", {"set": {"idle_timeout_s": 601}}, "bad_args"),
    ("config", {"set": {"language_default": "fr"}}, "bad_args"),
    ("config", {"set": {"site_display_name": "x" * 65}}, "bad_args"),
    ("config", {"set": {"elder_mode_default": 1}}, "bad_args"),
    ("config", {"set": {"idle_timeout_s": 60, "broker_url": "mqtt://evil"}}, "bad_args"),
    ("diagnostics", {"verbose": True}, "bad_args"),
])
def test_unknown_actions_and_bad_args_are_refused(keys: CentralKeys, action: str, args: dict[str, Any],
                                                   code: str) -> None:
    cmd = _cmd(action, args)
    err = _refused(keys, sign_command(keys.command_private_raw, cmd))
    assert (err.code, err.command_id) == (code, cmd.id)
    assert "rm -rf" not in err.message and "evil" not in err.message  # sender text is never echoed


def test_malformed_payloads_are_refused(keys: CentralKeys) -> None:
    good = sign_command(keys.command_private_raw, _cmd())
    cases = [b"", b"garbage", b"\xff\xfe", b"[]", b'{"v": 2}', b'{"v": 1, "cmd": []}', b"[" * 60_000,
             b"x" * (proto.MAX_PAYLOAD_BYTES + 1),
             good.replace(b'"v":1', b'"v":1,"v":1'),  # duplicate keys
             _rewrap(good, lambda w: w.update(extra=1))]
    for payload in cases:
        assert _refused(keys, payload).code == "malformed", payload[:40]
    no_key = verify_command
    with pytest.raises(CommandRefused) as info:
        no_key(None, good, device_id=DEVICE, site=SITE, now=NOW)
    assert info.value.code == "no_command_key"


def test_signed_but_incomplete_body_is_malformed(keys: CentralKeys) -> None:
    body = _cmd().to_dict()
    del body["issued_at"]
    sig = Ed25519PrivateKey.from_private_bytes(keys.command_private_raw).sign(proto.canonical_json(body))
    payload = proto.canonical_json({"v": 1, "cmd": body, "sig": base64.b64encode(sig).decode()})
    assert _refused(keys, payload).code == "malformed"


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4), max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=512))
def test_garbage_bytes_only_raise_command_refused(keys: CentralKeys, data: bytes) -> None:
    with pytest.raises(CommandRefused):
        _verify(keys, data)


@settings(max_examples=150, deadline=None)
@given(cmd=_json, sig=st.one_of(st.none(), st.text(max_size=90), st.integers()), v=st.sampled_from([1, 1, 2, "1"]))
def test_arbitrary_json_only_raises_command_refused(cmd: Any, sig: Any, v: Any) -> None:
    payload = json.dumps({"v": v, "cmd": cmd, "sig": sig}).encode()
    pub = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                 serialization.PublicFormat.Raw)
    with pytest.raises(CommandRefused):
        verify_command(pub, payload, device_id=DEVICE, site=SITE, now=NOW)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_is_refused(keys: CentralKeys, pos: int, bit: int) -> None:
    payload = bytearray(sign_command(keys.command_private_raw, _cmd()))
    payload[pos % len(payload)] ^= 1 << bit
    with pytest.raises(CommandRefused):  # even flips that decode to the same signature (non-canonical base64)
        _verify(keys, bytes(payload))


# -- the executor, without a broker ------------------------------------------------------------------------


def _results(outbox: Outbox) -> list[dict[str, Any]]:
    from sync.protocol.envelope import Envelope

    out = []
    for msg in outbox.pending_batch(1000):
        env = Envelope.from_bytes(msg.body)
        if env.meta.get("type") == "command_result":
            out.append(env.meta)
    return out


def test_executor_reports_every_refusal_and_rate_limits_junk(outbox: Outbox, device: DeviceConfig,
                                                              kiosk_home: Path) -> None:
    executor = CommandExecutor(outbox, device, kiosk_home, refusal_reports_per_minute=3)
    for junk in (b"", b"{}", b"nope", b"[]", b"null"):
        executor.handle(junk)
    results = _results(outbox)
    assert len(results) == 3 and executor.suppressed_reports == 2
    assert all(r["ok"] is False and r["reason"] == "malformed" and r["command_id"] is None for r in results)
    assert "maintenance" not in outbox.states()


def test_kiosk_without_a_command_key_refuses_but_reports(outbox: Outbox, device: DeviceConfig, kiosk_home: Path,
                                                         central_keys: CentralKeys) -> None:
    keyless = DeviceConfig(device.device_id, device.site, device.broker_url, device.central_seal_key, "")
    cmd = _cmd(target={"device": device.device_id}, issued=time.time())
    CommandExecutor(outbox, keyless, kiosk_home).handle(sign_command(central_keys.command_private_raw, cmd))
    [result] = _results(outbox)
    assert (result["command_id"], result["ok"], result["reason"]) == (cmd.id, False, "no_command_key")
    assert "maintenance" not in outbox.states()


def test_executor_survives_a_failing_store(outbox: Outbox, device: DeviceConfig, kiosk_home: Path,
                                           central_keys: CentralKeys, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: Any, **_k: Any) -> bool:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(outbox, "remember_command", broken)
    cmd = _cmd(target={"device": device.device_id}, issued=time.time())
    CommandExecutor(outbox, device, kiosk_home).handle(sign_command(central_keys.command_private_raw, cmd))
    [result] = _results(outbox)
    assert (result["command_id"], result["ok"], result["reason"]) == (cmd.id, False, "internal_error")


# -- end to end through the broker ---------------------------------------------------------------------------


class Kiosk:
    def __init__(self, outbox: Outbox, device: DeviceConfig, home: Path, central: Central,
                 keys: CentralKeys, broker: MosquittoBroker) -> None:
        self.outbox, self.device, self.home, self.central, self.keys = outbox, device, home, central, keys
        self.broker = broker
        self.executor = CommandExecutor(outbox, device, home)
        self.daemon: SyncDaemon = start_daemon(outbox, device, command_handler=self.executor.handle)
        # The central sees the online status only after the daemon's subscriptions (same connection, in order).
        wait_until(lambda: (self.central.store.device(device.device_id) or {}).get("status") == "online",
                   what="the kiosk online at the central")

    def command(self, action: str, args: dict[str, Any] | None = None, target: dict[str, Any] | None = None,
                *, private: bytes | None = None, issued: float | None = None, ttl: float = 300.0) -> tuple[
                    Command, bytes]:
        cmd = Command(id=new_message_id(), action=action, args=args or {},
                      target=target or {"device": self.device.device_id},
                      issued_at=time.time() if issued is None else issued,
                      expires_at=(time.time() if issued is None else issued) + ttl)
        return cmd, sign_command(private or self.keys.command_private_raw, cmd)

    def send(self, payload: bytes) -> None:
        assert publish(self.broker.url, [self.device.device_id], payload) == [self.device.device_id]

    def results(self, command_id: str | None = None) -> list[dict[str, Any]]:
        return [e["meta"] for e in self.central.store.events("command_result")
                if command_id is None or e["meta"].get("command_id") == command_id]

    def wait_results(self, command_id: str | None, n: int = 1) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.results(command_id)) >= n, what=f"{n} command_result event(s) at the central")
        return self.results(command_id)


@pytest.fixture
def kiosk(outbox: Outbox, device: DeviceConfig, kiosk_home: Path, central: Central, central_keys: CentralKeys,
          broker: MosquittoBroker) -> Iterator[Kiosk]:
    k = Kiosk(outbox, device, kiosk_home, central, central_keys, broker)
    yield k
    k.daemon.stop()


def test_maintenance_command_end_to_end_and_replay_refused(kiosk: Kiosk) -> None:
    cmd, payload = kiosk.command("maintenance", {"on": True, "message": "系统升级，14:00 恢复"})
    kiosk.send(payload)
    [result] = kiosk.wait_results(cmd.id)
    assert result | {"detail": None} == {"type": "command_result", "command_id": cmd.id, "action": "maintenance",
                                         "ok": True, "reason": "ok", "detail": None, "maintenance": True}
    states = kiosk.outbox.states()
    assert (states["maintenance"], states["maintenance_message"]) == ("1", "系统升级，14:00 恢复")

    kiosk.outbox.set_states({"maintenance": "0", "maintenance_message": ""})
    kiosk.send(payload)  # the identical payload again
    results = kiosk.wait_results(cmd.id, 2)
    assert [(r["ok"], r["reason"]) for r in results] == [(True, "ok"), (False, "replayed")]
    assert kiosk.outbox.states()["maintenance"] == "0"  # not executed twice

    off, payload = kiosk.command("maintenance", {"on": False})
    kiosk.send(payload)
    assert kiosk.wait_results(off.id)[0]["ok"] is True
    assert (kiosk.outbox.states()["maintenance"], kiosk.outbox.states()["maintenance_message"]) == ("0", "")


def test_wrong_target_bad_signature_and_expired_commands_change_nothing(kiosk: Kiosk) -> None:
    before = kiosk.outbox.states().get("maintenance")
    on = {"on": True, "message": "x"}
    other, p1 = kiosk.command("maintenance", on, target={"device": "k-somebody-else"})
    forged, p2 = kiosk.command("maintenance", on, private=_other_private())
    old, p3 = kiosk.command("maintenance", on, issued=time.time() - 600, ttl=60)
    site, p4 = kiosk.command("maintenance", on, target={"site": "别的街道"})
    for payload in (p1, p2, p3, p4):
        kiosk.send(payload)
    reasons = {c.id: kiosk.wait_results(c.id)[0] for c in (other, forged, old, site)}
    assert {cid: (r["ok"], r["reason"]) for cid, r in reasons.items()} == {
        other.id: (False, "wrong_target"), forged.id: (False, "bad_signature"), old.id: (False, "expired"),
        site.id: (False, "wrong_target")}
    assert kiosk.outbox.states().get("maintenance") == before


def test_config_is_applied_atomically_and_unknown_keys_change_nothing(kiosk: Kiosk) -> None:
    path = kiosk.home / CONFIG_FILE
    cmd, payload = kiosk.command("config", {"set": {"heartbeat_interval_s": 60, "language_default": "en",
                                                     "site_display_name": "中山街道便民服务中心"}})
    kiosk.send(payload)
    [result] = kiosk.wait_results(cmd.id)
    assert (result["ok"], result["config_version"]) == (True, 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["settings"] == {"heartbeat_interval_s": 60, "language_default": "en",
                               "site_display_name": "中山街道便民服务中心"}
    assert doc["version"] == 1 and doc["command_id"] == cmd.id
    assert kiosk.outbox.states()["config_version"] == "1"
    assert not (kiosk.home / (CONFIG_FILE + ".tmp")).exists()
    saved = path.read_bytes()

    bad, payload = kiosk.command("config", {"set": {"idle_timeout_s": 120, "admin_pin": "0000"}})
    kiosk.send(payload)
    [refused] = kiosk.wait_results(bad.id)
    assert (refused["ok"], refused["reason"]) == (False, "bad_args")
    assert "admin_pin" not in json.dumps(refused)
    assert path.read_bytes() == saved and kiosk.outbox.states()["config_version"] == "1"

    more, payload = kiosk.command("config", {"set": {"idle_timeout_s": 120}})
    kiosk.send(payload)
    assert kiosk.wait_results(more.id)[0]["config_version"] == 2
    assert json.loads(path.read_text(encoding="utf-8"))["settings"]["idle_timeout_s"] == 120
    assert json.loads(path.read_text(encoding="utf-8"))["settings"]["language_default"] == "en"


def test_diagnostics_report_counts_and_no_personal_data(kiosk: Kiosk) -> None:
    kiosk.outbox.enqueue_submission(kiosk.device, "MZ-LNYD-001",
                                    [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": NAME}])
    kiosk.outbox.put_driver_health([{"driver": "camera", "state": "ok", "last_error": None}])
    cmd, payload = kiosk.command("diagnostics")
    kiosk.send(payload)
    [result] = kiosk.wait_results(cmd.id)
    assert result["ok"] is True and result["action"] == "diagnostics"
    assert result["counts"]["submission"]["pending"] + result["counts"]["submission"]["sent"] \
        + result["counts"]["submission"]["acked"] == 1
    assert {"oldest_pending_s", "disk_free", "drivers", "versions"} <= set(result)
    assert result["drivers"][0]["driver"] == "camera" and result["versions"]["app"]
    assert NAME not in json.dumps(result, ensure_ascii=False)


def test_dashboard_bridge_sends_through_this_module(kiosk: Kiosk, tmp_path: Path) -> None:
    from central.web.commands_bridge import default_sender

    kiosk.keys.save(tmp_path / "central-home")
    send = default_sender(tmp_path / "central-home", kiosk.broker.url)
    command_id = send(kiosk.device.device_id, "maintenance_on", {"message": "暂停服务"})
    assert kiosk.wait_results(command_id)[0]["ok"] is True
    assert kiosk.outbox.states()["maintenance_message"] == "暂停服务"
    sent = send_command(kiosk.keys, kiosk.broker.url, kiosk.device.device_id, "maintenance_off")
    assert kiosk.wait_results(sent.id)[0]["ok"] is True and kiosk.outbox.states()["maintenance"] == "0"


def test_cli_sends_a_maintenance_command(kiosk: Kiosk, tmp_path: Path) -> None:
    home = tmp_path / "central-home"
    kiosk.keys.save(home)
    out = subprocess.run([str(BIN / "kiosk-central"), "command", kiosk.device.device_id, "maintenance", "--on",
                          "--message", "网络维护中", "--broker", kiosk.broker.url, "--home", str(home), "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    sent = json.loads(out.stdout)
    assert sent["action"] == "maintenance" and sent["devices"] == [kiosk.device.device_id]
    [result] = kiosk.wait_results(sent["command_id"])
    assert result["ok"] is True
    assert kiosk.outbox.states()["maintenance_message"] == "网络维护中"

    # --site: the registry's kiosks of that site (this one reported its site in its status).
    db = f"sqlite:///{tmp_path / 'central.db'}"
    out = subprocess.run([str(BIN / "kiosk-central"), "command", "--site", kiosk.device.site, "config",
                          "--set", "idle_timeout_s=90", "elder_mode_default=true", "--broker", kiosk.broker.url,
                          "--home", str(home), "--db", db], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    command_id = out.stdout.strip()
    [result] = kiosk.wait_results(command_id)
    assert (result["ok"], result["keys"]) == (True, ["elder_mode_default", "idle_timeout_s"])

    bad = subprocess.run([str(BIN / "kiosk-central"), "command", kiosk.device.device_id, "config", "--set",
                          "admin_pin=1", "--broker", kiosk.broker.url, "--home", str(home)],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "KEY one of" in bad.stderr


def test_fleet_device_ids_by_site(central: Central) -> None:
    with central.store.session() as s, s.begin():
        for device_id, site in (("k-a", "甲"), ("k-b", "乙"), ("k-c", "甲")):
            s.add(Device(device_id=device_id, site=site, status="online", conn=1, status_at=0.0, last_seen=0.0,
                         version="", telemetry_json="{}"))
    assert fleet_device_ids(central.store, "甲") == ["k-a", "k-c"]
    # The broker is shared by the session: retained status of earlier tests' kiosks may land here too.
    everyone = fleet_device_ids(central.store)
    assert {"k-a", "k-b", "k-c"} <= set(everyone) and everyone == sorted(everyone)
