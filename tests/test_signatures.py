"""Device-signed envelopes: the central stores only what the topic's kiosk signed with its enrolled key.

A wrong or missing signature, an envelope published on another kiosk's topic, or a kiosk the central
does not know: refused, an alarm opened, nothing stored, and no rejection sent (the message is not
provably that kiosk's, so a rejection would let a forger cancel the real kiosk's message by its id).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central import fleet
from central.keys import CentralKeys
from central.messages import Refused, parse
from central.trust import Keyring, register_key
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import signing, topics
from sync.protocol.envelope import Envelope
from sync.protocol.signing import DeviceSigner, SignatureError
from tests.helpers import TEST_KEYRING, Central, Wire, device_signer, make_device, start_daemon, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "吴九"}]


@pytest.fixture
def wire(broker: MosquittoBroker, device: DeviceConfig) -> Iterator[Wire]:
    w = Wire(broker, device.device_id)
    yield w
    w.close()


def _queued(outbox: Outbox, device: DeviceConfig) -> Envelope:
    outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    [msg] = outbox.pending_batch(10)
    return Envelope.from_bytes(msg.body)


def _alarm(central: Central, device_id: str, code: str) -> dict[str, Any] | None:
    return next((a for a in fleet.alarms_list(central.store, device_id=device_id) if a["code"] == code), None)


def _refused_with_alarm(central: Central, wire: Wire, device_id: str, code: str) -> dict[str, Any]:
    wait_until(lambda: _alarm(central, device_id, code) is not None, what=f"the {code} alarm")
    assert central.worker.refused_total >= 1
    assert central.store.count() == 0 and central.store.events() == []
    assert all(not a.rejected and not a.ids for a in wire.acks)  # the kiosk is not told (see module doc)
    alarm = _alarm(central, device_id, code)
    assert alarm is not None and alarm["open"] and alarm["severity"] == "critical"
    return alarm


# -- the good path -----------------------------------------------------------------------------------------


def test_signed_at_enqueue_stored_and_acked(central: Central, outbox: Outbox, device: DeviceConfig,
                                           kiosk_home: Path) -> None:
    env = _queued(outbox, device)
    assert len(env.sig) == 64  # signed as it was queued: the daemon publishes the stored bytes
    signing.verify(env, signing.public_key(device_signer(kiosk_home).public_raw))
    outbox.enqueue_event(device, "rating", {"level": "满意"})
    daemon = start_daemon(outbox, device, heartbeat_interval_s=0.2)
    try:
        wait_until(lambda: outbox.counts()["acked"] == 2, what="submission and event acked")
        wait_until(lambda: (central.store.device(device.device_id) or {}).get("telemetry", {}).get("uptime_s")
                   is not None, what="signed telemetry accepted")
    finally:
        daemon.stop()
    assert central.store.count() == 1 and [e["type"] for e in central.store.events()] == ["rating"]
    assert fleet.alarms_list(central.store, device_id=device.device_id) == []


def test_a_row_queued_before_the_key_existed_is_signed_at_publish(central: Central, tmp_path: Path,
                                                                  broker: MosquittoBroker,
                                                                  central_keys: CentralKeys) -> None:
    home = tmp_path / "late"
    device = make_device(home, broker.url, central_keys)
    key = (home / signing.DEVICE_KEY_FILE).read_bytes()
    (home / signing.DEVICE_KEY_FILE).unlink()
    outbox = Outbox(home / OUTBOX_FILE)
    try:
        env = _queued(outbox, device)
        assert env.sig == b""  # no key yet: queued unsigned
        (home / signing.DEVICE_KEY_FILE).write_bytes(key)
        daemon = start_daemon(outbox, device)
        try:
            wait_until(lambda: outbox.counts()["acked"] == 1, what="the late-signed submission acked")
        finally:
            daemon.stop()
    finally:
        outbox.close()
    assert central.store.count() == 1


# -- refusals ----------------------------------------------------------------------------------------------


def test_wrong_signature_is_refused_with_an_alarm(central: Central, outbox: Outbox, device: DeviceConfig,
                                                 wire: Wire) -> None:
    env = _queued(outbox, device)
    forged = DeviceSigner.generate().sign(env)  # well-formed, by a key that is not this kiosk's
    wire.publish(device.device_id, "submission", forged.to_bytes())
    alarm = _refused_with_alarm(central, wire, device.device_id, "bad_signature")
    assert "bad_signature" in alarm["detail"]


def test_edited_content_under_a_genuine_signature_is_refused(central: Central, outbox: Outbox,
                                                             device: DeviceConfig, wire: Wire) -> None:
    env = _queued(outbox, device)
    edited = dataclasses.replace(env, meta={**env.meta, "service_code": "MZ-OTHER-002"})
    wire.publish(device.device_id, "submission", edited.to_bytes())
    _refused_with_alarm(central, wire, device.device_id, "bad_signature")


def test_unsigned_is_refused_with_an_alarm(central: Central, outbox: Outbox, device: DeviceConfig,
                                           wire: Wire) -> None:
    env = dataclasses.replace(_queued(outbox, device), sig=b"")
    wire.publish(device.device_id, "submission", env.to_bytes())
    _refused_with_alarm(central, wire, device.device_id, "unsigned")


def test_envelope_on_another_kiosks_topic_is_refused(central: Central, outbox: Outbox, device: DeviceConfig,
                                                     tmp_path: Path, broker: MosquittoBroker,
                                                     central_keys: CentralKeys, wire: Wire) -> None:
    """Kiosk B, genuinely signing its own envelope, publishes it on A's topic (a broker whose ACL lets
    it): refused and alarmed on A's topic, whatever the envelope claims."""
    other = make_device(tmp_path / "b", broker.url, central_keys)
    other_outbox = Outbox(tmp_path / "b" / OUTBOX_FILE)
    try:
        env = _queued(other_outbox, other)
    finally:
        other_outbox.close()
    wire.publish(device.device_id, "submission", env.to_bytes())
    alarm = _refused_with_alarm(central, wire, device.device_id, "topic_mismatch")
    assert other.device_id in alarm["detail"]
    # ... and an envelope rewritten to name A, still signed by B: the signature does not hold for A.
    as_a = DeviceSigner.from_pem((tmp_path / "b" / signing.DEVICE_KEY_FILE).read_bytes()).sign(
        dataclasses.replace(env, device_id=device.device_id))
    wire.publish(device.device_id, "submission", as_a.to_bytes())
    _refused_with_alarm(central, wire, device.device_id, "bad_signature")


def test_unknown_device_is_refused_with_an_alarm(central: Central, tmp_path: Path, broker: MosquittoBroker,
                                                 central_keys: CentralKeys) -> None:
    home = tmp_path / "stranger"
    home.mkdir()
    stranger = DeviceConfig(f"x-{uuid.uuid4().hex[:10]}", "无名街道", broker.url,
                            base64.b64encode(central_keys.seal.public_raw).decode())
    DeviceSigner.generate().save(home)  # a key of its own, never enrolled at this central
    outbox = Outbox(home / OUTBOX_FILE)
    wire = Wire(broker, stranger.device_id)
    try:
        env = _queued(outbox, stranger)
        assert env.sig
        wire.publish(stranger.device_id, "submission", env.to_bytes())
        _refused_with_alarm(central, wire, stranger.device_id, "unknown_device")
    finally:
        wire.close()
        outbox.close()


def test_a_flood_of_forgeries_opens_one_alarm(central: Central, outbox: Outbox, device: DeviceConfig,
                                              wire: Wire) -> None:
    env = _queued(outbox, device)
    forger = DeviceSigner.generate()
    for n in range(30):
        wire.publish(device.device_id, "submission", forger.sign(dataclasses.replace(env, seq=env.seq + n)).to_bytes())
    wait_until(lambda: central.worker.refused_total >= 30, what="every forgery refused")
    # The count rises before the alarm's commit (issue 22): wait for the alarm too, then check there is one.
    wait_until(lambda: _alarm(central, device.device_id, "bad_signature") is not None, what="the alarm")
    alarms = [a for a in fleet.alarms_list(central.store, device_id=device.device_id)]
    assert [a["code"] for a in alarms] == ["bad_signature"]
    assert central.store.count() == 0


# -- the parts, without a broker ---------------------------------------------------------------------------


def test_the_signature_is_over_content_not_over_spacing_or_key_order(outbox: Outbox, device: DeviceConfig,
                                                                     central_keys: CentralKeys) -> None:
    env = _queued(outbox, device)
    obj = json.loads(env.to_bytes())
    respaced = json.dumps(dict(reversed(list(obj.items()))), indent=3, ensure_ascii=True).encode()
    topic = topics.Topic(device.device_id, "up", "submission")
    assert parse(central_keys, topic, respaced, TEST_KEYRING).digest == signing.digest(env)


def test_each_covered_field_matters(outbox: Outbox, device: DeviceConfig, kiosk_home: Path) -> None:
    env = _queued(outbox, device)
    key = signing.public_key(device_signer(kiosk_home).public_raw)
    signing.verify(env, key)
    for change in ({"id": str(uuid.uuid4())}, {"seq": env.seq + 1}, {"kind": "event"}, {"created_at": 1.5},
                   {"sealed": env.sealed + b"x"}, {"meta": {**env.meta, "receipt_no": "R1"}},
                   {"device_id": "someone-else"}):
        with pytest.raises(SignatureError) as info:
            signing.verify(dataclasses.replace(env, **change), key)  # type: ignore[arg-type]
        assert info.value.code == signing.BAD_SIGNATURE, change


def test_the_keyring_rereads_a_key_replaced_by_re_enrolment(central: Central, outbox: Outbox,
                                                            device: DeviceConfig, central_keys: CentralKeys) -> None:
    keyring = Keyring(central.store, ttl_s=3600)
    env = _queued(outbox, device)
    topic = topics.Topic(device.device_id, "up", "submission")
    parse(central_keys, topic, env.to_bytes(), keyring)  # caches the enrolled key
    new = DeviceSigner.generate()
    register_key(central.store, device.device_id, new.public_raw, how="re-enrolled")
    parse(central_keys, topic, new.sign(env).to_bytes(), keyring)  # the new key, read at once
    with pytest.raises(Refused, match="bad_signature") as info:
        parse(central_keys, topic, env.to_bytes(), keyring)  # the old key no longer counts
    assert info.value.message_id is None and info.value.alarm is not None
