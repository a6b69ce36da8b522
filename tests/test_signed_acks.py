"""Signed acks (issue #9, SECURITY.md): a kiosk acts only on a ``down/ack`` the central signed for it.

Forgeries are published straight to the broker by a raw paho client on the kiosk's own ``down/ack`` topic
(what a compromised broker or a misconfigured ACL allows); the kiosk must change nothing, count and alarm,
and still take the genuine ack that follows.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.keys import CentralKeys
from devtools.broker import MosquittoBroker
from sync.daemon.ackcheck import ALARM_CODE, AckGate
from sync.daemon.service import SyncDaemon
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import acksign, topics
from sync.protocol.commands import CommandRefused, verify_command
from sync.protocol.envelope import Ack, EnvelopeError
from sync.protocol.signing import public_key
from sync.protocol.signing import verify as verify_envelope
from sync.runtime.mqtt import new_client
from tests.helpers import make_device, start_central, start_daemon, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "吴九"}]


class Forger:
    """A raw MQTT client that publishes on kiosks' downlink topics (as a compromised broker could)."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.client = new_client(f"forger-{uuid.uuid4().hex[:8]}")
        self.client.connect("127.0.0.1", broker.port, clean_start=True)
        self.client.loop_start()

    def ack(self, device_id: str, payload: bytes) -> None:
        info = self.client.publish(topics.down(device_id, "ack"), payload, qos=1)
        info.wait_for_publish(5)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def forger(own_broker: MosquittoBroker) -> Iterator[Forger]:
    f = Forger(own_broker)
    yield f
    f.close()


def _kiosk(tmp_path: Path, name: str, broker: MosquittoBroker, keys: CentralKeys) -> tuple[DeviceConfig, Outbox]:
    device = make_device(tmp_path / name, broker.url, keys)
    return device, Outbox(tmp_path / name / OUTBOX_FILE)


def _state(outbox: Outbox, message_id: str) -> tuple[str, bool]:
    row = outbox.find(message_id)
    assert row is not None
    return row.state, row.body is not None


def _alarms(outbox: Outbox) -> list[dict[str, object]]:
    with sqlite3.connect(outbox.path) as db:
        bodies = [r[0] for r in db.execute("select body from outbox where kind = 'event'") if r[0] is not None]
    metas = [json.loads(b)["meta"] for b in bodies]
    return [m for m in metas if m.get("type") == "alarm" and m.get("code") == ALARM_CODE]


def _sent(daemon: SyncDaemon, outbox: Outbox, message_id: str) -> None:
    wait_until(lambda: _state(outbox, message_id)[0] == "sent", 10, "the submission published")


def _attacker_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                      serialization.NoEncryption())


# -- on the wire, real broker ------------------------------------------------------------------------------


@pytest.mark.slow
def test_forged_acks_change_nothing_and_the_real_one_later_does(tmp_path: Path, own_broker: MosquittoBroker,
                                                                central_keys: CentralKeys, forger: Forger) -> None:
    device, outbox = _kiosk(tmp_path, "kiosk", own_broker, central_keys)
    receipt = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    daemon = start_daemon(outbox, device)  # no central yet: the row is published and stays unacked
    central = None
    try:
        _sent(daemon, outbox, receipt.message_id)
        mid = receipt.message_id
        forgeries = [
            Ack((mid,)).to_bytes(),  # unsigned "stored"
            Ack((), ((mid, "forged refusal"),)).to_bytes(),  # unsigned "refused"
            acksign.signed_ack_bytes(_attacker_key(), Ack((mid,)), device.device_id),  # signed by another key
            dataclasses.replace(acksign.sign_ack(central_keys.command_private_raw, Ack(()), device.device_id),
                                ids=(mid,)).to_bytes(),  # a genuine empty ack with the id slipped in
            b'{"v":1,"ids":["' + mid.encode() + b'"],"sig":"not base64"}',  # malformed
        ]
        for payload in forgeries:
            forger.ack(device.device_id, payload)
        wait_until(lambda: daemon.ack_gate.refused_total == len(forgeries), 10, "every forgery refused")
        # The gate counts a refusal first and queues its alarm after (a SQLite commit, which a busy machine can
        # delay past the count): wait for the alarms themselves before reading them (issue 22).
        wait_until(lambda: len(_alarms(outbox)) >= 3, 10, "an alarm queued for each reason")
        assert dict(daemon.ack_gate.refused) == {"unsigned": 2, "bad_signature": 2, "malformed": 1}
        assert _state(outbox, mid) == ("sent", True)  # not acked, not rejected, body kept
        assert outbox.counts_by_kind()["submission"] == {"pending": 0, "sent": 1, "acked": 0, "rejected": 0}
        # One alarm per reason, not one per forgery; the detail is the reason code, nothing from the payload.
        assert sorted(a["detail"] for a in _alarms(outbox)) == ["bad_signature", "malformed", "unsigned"]
        assert all(a["severity"] == "critical" for a in _alarms(outbox))

        central = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id="real")
        wait_until(lambda: _state(outbox, mid) == ("acked", False), 20, "the genuine ack")
        assert central.store.count() == 1
        wait_until(lambda: len(central.store.events("alarm")) == 3, 20, "the kiosk's alarms at the central")
        assert {e["meta"]["code"] for e in central.store.events("alarm")} == {ALARM_CODE}
        assert daemon.ack_gate.refused_total == len(forgeries)  # the central's own acks all passed
    finally:
        daemon.stop()
        if central is not None:
            central.worker.stop()
            central.store.close()
        outbox.close()


@pytest.mark.slow
def test_an_ack_signed_for_another_kiosk_is_refused(tmp_path: Path, own_broker: MosquittoBroker,
                                                    central_keys: CentralKeys, forger: Forger) -> None:
    a, outbox_a = _kiosk(tmp_path, "a", own_broker, central_keys)
    b, outbox_b = _kiosk(tmp_path, "b", own_broker, central_keys)
    receipt = outbox_b.enqueue_submission(b, "MZ-LNYD-001", FIELDS)
    daemon = start_daemon(outbox_b, b)
    try:
        _sent(daemon, outbox_b, receipt.message_id)
        # A genuine central signature, but addressed to kiosk A, replayed on B's topic.
        for_a = acksign.signed_ack_bytes(central_keys.command_private_raw, Ack((receipt.message_id,)), a.device_id)
        forger.ack(b.device_id, for_a)
        wait_until(lambda: daemon.ack_gate.refused_total == 1, 10, "the misdirected ack refused")
        assert dict(daemon.ack_gate.refused) == {"wrong_device": 1}
        assert _state(outbox_b, receipt.message_id) == ("sent", True)
        # The same ids signed for B are taken.
        forger.ack(b.device_id, acksign.signed_ack_bytes(central_keys.command_private_raw,
                                                         Ack((receipt.message_id,)), b.device_id))
        wait_until(lambda: _state(outbox_b, receipt.message_id) == ("acked", False), 10, "the ack for B")
        assert daemon.ack_gate.refused_total == 1
    finally:
        daemon.stop()
        outbox_a.close()
        outbox_b.close()


@pytest.mark.slow
def test_the_central_signs_every_ack_it_sends(tmp_path: Path, own_broker: MosquittoBroker,
                                              central_keys: CentralKeys) -> None:
    device, outbox = _kiosk(tmp_path, "kiosk", own_broker, central_keys)
    seen: list[bytes] = []
    got = threading.Event()
    listener = new_client(f"listen-{uuid.uuid4().hex[:8]}")
    listener.on_message = lambda _c, _u, m: (seen.append(bytes(m.payload)), got.set())
    listener.connect("127.0.0.1", own_broker.port, clean_start=True)
    listener.subscribe(topics.down(device.device_id, "ack"), qos=1)
    listener.loop_start()
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id="good")
    daemon = start_daemon(outbox, device)
    try:
        ids = [outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS).message_id for _ in range(5)]
        wait_until(lambda: all(_state(outbox, i)[0] == "acked" for i in ids), 20, "five submissions acked")
        assert got.wait(5)
        acks = [Ack.from_bytes(p) for p in seen]
        for ack in acks:
            assert acksign.verify_ack(central_keys.command_public_raw, ack, device.device_id) is ack
            assert abs(ack.ts - time.time()) < 60
        assert set(ids) <= {i for ack in acks for i in ack.ids}
        assert daemon.ack_gate.refused_total == 0 and central.store.count() == 5
    finally:
        daemon.stop()
        central.worker.stop()
        central.store.close()
        listener.loop_stop()
        listener.disconnect()
        outbox.close()


# -- the signature itself ----------------------------------------------------------------------------------


def _signed(keys: CentralKeys, device_id: str = "k-01") -> Ack:
    ack = Ack(("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",), (("id-2", "bad seal"),), ((3, 5),))
    return acksign.sign_ack(keys.command_private_raw, ack, device_id)


def test_a_signed_ack_survives_the_wire_and_any_edit_breaks_it(central_keys: CentralKeys) -> None:
    ack = _signed(central_keys)
    again = Ack.from_bytes(ack.to_bytes())
    assert again == ack and acksign.verify_ack(central_keys.command_public_raw, again, "k-01") == ack
    edits = [dataclasses.replace(ack, ids=(*ack.ids, "another")), dataclasses.replace(ack, rejected=()),
             dataclasses.replace(ack, resend=((1, 100),)), dataclasses.replace(ack, ts=ack.ts + 1),
             dataclasses.replace(ack, device_id="k-02")]
    for edited in edits:
        with pytest.raises(acksign.AckRefused) as err:
            acksign.verify_ack(central_keys.command_public_raw, edited, edited.device_id)
        assert err.value.code == acksign.BAD_SIGNATURE
    with pytest.raises(acksign.AckRefused) as err:
        acksign.verify_ack(central_keys.command_public_raw, ack, "k-02")
    assert err.value.code == acksign.WRONG_DEVICE


def test_an_ack_signature_cannot_pass_as_a_command_or_an_envelope_signature(central_keys: CentralKeys) -> None:
    ack = _signed(central_keys)
    signed = acksign.signing_bytes(ack)
    assert signed.startswith(acksign.DOMAIN)
    body = json.loads(signed[len(acksign.DOMAIN):])
    # The ack's canonical body with the ack's signature, presented as a command: refused.
    wire = json.dumps({"v": 1, "cmd": body, "sig": base64.b64encode(ack.sig).decode()}).encode()
    with pytest.raises(CommandRefused) as err:
        verify_command(central_keys.command_public_raw, wire, device_id="k-01", site="s")
    assert err.value.code == "bad_signature"
    # Nor does the domain-prefixed text verify under another domain (a device envelope signature check).
    from sync.protocol.envelope import Envelope
    env = Envelope(id="x", seq=1, device_id="k-01", kind="event", created_at=1.0, sig=ack.sig)
    with pytest.raises(ValueError, match="bad_signature"):
        verify_envelope(env, public_key(central_keys.command_public_raw))


@pytest.mark.parametrize("payload", [
    b"", b"null", b"[]", b'{"v":1}', b'{"v":1,"ids":[],"sig":"AAAA"}',
    b'{"v":1,"ids":[],"sig":"' + base64.b64encode(bytes(64)) + b'"}',  # signature without device_id/ts
    b'{"v":1,"ids":[],"device_id":"k","ts":1e999,"sig":"' + base64.b64encode(bytes(64)) + b'"}',
    b'{"v":1,"ids":[],"device_id":"k","ts":true,"sig":"' + base64.b64encode(bytes(64)) + b'"}',
])
def test_malformed_signed_acks_are_refused_cleanly(payload: bytes) -> None:
    with pytest.raises(EnvelopeError):
        Ack.from_bytes(payload)


def test_a_kiosk_without_a_command_key_acts_on_no_ack(tmp_path: Path, central_keys: CentralKeys) -> None:
    device = make_device(tmp_path / "k", "mqtt://127.0.0.1:1", central_keys)
    keyless = dataclasses.replace(device, central_command_key="")
    outbox = Outbox(tmp_path / "k" / OUTBOX_FILE)
    try:
        gate = AckGate(outbox, keyless)
        genuine = acksign.signed_ack_bytes(central_keys.command_private_raw, Ack(("x",)), device.device_id)
        assert gate.check(genuine) is None and dict(gate.refused) == {"no_command_key": 1}
        assert AckGate(outbox, device).check(genuine) is not None  # the same ack with the key pinned
        for _ in range(3):
            gate.check(genuine)
        assert gate.refused_total == 4 and gate.alarms_raised == 1  # rate-limited
    finally:
        outbox.close()
