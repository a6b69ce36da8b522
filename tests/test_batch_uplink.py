"""``up/batch``: several submission envelopes in one MQTT message under one device signature
(sync.protocol.batch, central.messages.parse_batch, the daemon's grouping).

The wire format and its checks; the central reading a batch exactly as it reads each envelope alone on
``up/submission`` (same digest, so a later single resend dedupes), refusing trust failures with an alarm
and never telling the kiosk about them; a real daemon draining a backlog in batches through a real
Mosquitto to a real central, every submission stored once and acked, no personal data on the wire; and a
forged batch that stores nothing and raises an alarm.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from central import fleet
from central.keys import CentralKeys
from central.messages import Incoming, Refused, parse, parse_batch
from central.store import CentralStore
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox, Outgoing
from sync.protocol import batch as batches
from sync.protocol import topics
from sync.protocol.envelope import Envelope
from sync.protocol.signing import DeviceSigner, VerifyKey, public_key
from sync.runtime.mqtt import new_client
from tests.helpers import (
    TEST_KEYRING,
    Central,
    Wire,
    device_signer,
    make_device,
    start_central,
    start_daemon,
    wait_until,
)

NAME = "孙十一"
ID_NUMBER = "110101199003071234"
FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": NAME},
          {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": ID_NUMBER}]


def _queue(outbox: Outbox, device: DeviceConfig, n: int) -> list[Outgoing]:
    """``n`` submissions queued (signed at enqueue, as the UI does); their outbox rows, in order."""
    for _ in range(n):
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    rows = outbox.pending_batch(n + 10)
    assert len(rows) == n and all(r.kind == "submission" for r in rows)
    return rows


def _batch_topic(device_id: str) -> topics.Topic:
    return topics.Topic(device_id, "up", "batch")


def _synthetic(signer: DeviceSigner, device_id: str, n: int, sealed_size: int = 40) -> list[bytes]:
    """Signed envelopes for the wire-format tests (no outbox, no broker)."""
    return [signer.sign(Envelope(id=str(uuid.uuid4()), seq=i + 1, device_id=device_id, kind="submission",
                                 created_at=1.7e9 + i, sealed=bytes([i % 251]) * sealed_size,
                                 meta={"service_code": "X", "receipt_no": f"R{i}", "attachments": []})).to_bytes()
            for i in range(n)]


def _rewrite_head(payload: bytes, **changes: Any) -> bytes:
    """The batch with its header's fields changed (``None`` drops a field); the envelopes untouched."""
    head, rest = payload.split(b"\n", 1)
    obj = json.loads(head)
    for key, value in changes.items():
        if value is None:
            obj.pop(key, None)
        else:
            obj[key] = value
    return json.dumps(obj).encode() + b"\n" + rest


def _batch_error(payload: bytes, key: DeviceSigner | None = None) -> str:
    """The BatchError code decoding (and, given a key, verifying) ``payload`` raises."""
    with pytest.raises(batches.BatchError) as info:
        decoded = batches.decode(payload)
        if key is not None:
            batches.verify(decoded, _verify_key(key))
    return info.value.code


def _verify_key(signer: DeviceSigner) -> VerifyKey:
    return public_key(signer.public_raw)


# -- 1. the wire format -----------------------------------------------------------------------------------


def test_encode_decode_verify_round_trip() -> None:
    signer = DeviceSigner.generate()
    envelopes = _synthetic(signer, "k-batch-1", 3)
    payload = batches.encode(signer, "k-batch-1", envelopes)
    decoded = batches.decode(payload)
    assert decoded.device_id == "k-batch-1" and decoded.envelopes == tuple(envelopes) and len(decoded.sig) == 64
    batches.verify(decoded, _verify_key(signer))
    assert payload.count(b"\n") == 3  # one header line, then one line per envelope
    head = json.loads(payload.split(b"\n", 1)[0])
    assert head["v"] == batches.VERSION and head["n"] == 3 and head["device_id"] == "k-batch-1"
    # One envelope is a batch too.
    single = batches.decode(batches.encode(signer, "k-batch-1", envelopes[:1]))
    batches.verify(single, _verify_key(signer))
    assert single.envelopes == (envelopes[0],)


def test_any_flipped_byte_in_any_envelope_breaks_the_batch_signature() -> None:
    signer = DeviceSigner.generate()
    envelopes = _synthetic(signer, "k-batch-1", 3)
    key = _verify_key(signer)
    payload = batches.encode(signer, "k-batch-1", envelopes)
    head = payload.split(b"\n", 1)[0]
    checked = 0
    for i, env in enumerate(envelopes):
        for pos in range(len(env)):
            damaged = bytearray(env)
            damaged[pos] ^= 0x02 if env[pos] ^ 0x01 == 0x0A else 0x01  # never make a raw newline
            lines = [*envelopes]
            lines[i] = bytes(damaged)
            decoded = batches.decode(b"\n".join([head, *lines]))  # still well formed...
            with pytest.raises(batches.BatchError) as info:
                batches.verify(decoded, key)  # ... but not what the device signed
            assert info.value.code == "bad_signature", (i, pos)
            checked += 1
    assert checked == sum(len(e) for e in envelopes)
    # Reordered or dropped envelopes (with a header that agrees) and another device id: refused too.
    assert _batch_error(b"\n".join([head, envelopes[1], envelopes[0], envelopes[2]]), signer) == "bad_signature"
    shorter = _rewrite_head(b"\n".join([head, *envelopes[:2]]), n=2)
    assert _batch_error(shorter, signer) == "bad_signature"
    assert _batch_error(_rewrite_head(payload, device_id="k-batch-2"), signer) == "bad_signature"


def test_a_batch_signed_by_another_key_is_bad_signature() -> None:
    owner, other = DeviceSigner.generate(), DeviceSigner.generate()
    envelopes = _synthetic(owner, "k-batch-1", 2)  # genuine envelopes, each signed by the owner...
    payload = batches.encode(other, "k-batch-1", envelopes)  # ... in a batch signed by someone else
    assert _batch_error(payload, owner) == "bad_signature"
    # A signature that is not base64, or not 64 bytes, is a bad signature as well.
    assert _batch_error(_rewrite_head(payload, sig="not base64!")) == "bad_signature"
    assert _batch_error(_rewrite_head(payload, sig=base64.b64encode(b"x" * 63).decode())) == "bad_signature"


def test_a_header_count_that_does_not_match_is_unreadable() -> None:
    signer = DeviceSigner.generate()
    payload = batches.encode(signer, "k-batch-1", _synthetic(signer, "k-batch-1", 3))
    for n in (2, 4, 0, -1, batches.MAX_ENVELOPES + 1, "3", True, 3.0, None):  # None: no count at all
        assert _batch_error(_rewrite_head(payload, n=n)) == "unreadable", n
    assert _batch_error(payload.rsplit(b"\n", 1)[0]) == "unreadable"  # an envelope cut off
    assert _batch_error(payload + b"\n") == "unreadable"  # a trailing newline is an empty envelope
    for head in (b"", b"not json", b"[1,2]", b'{"v":2,"device_id":"k","n":1,"sig":"AA=="}', b"\xff\xfe"):
        assert _batch_error(head + b"\n" + payload.split(b"\n")[1]) == "unreadable", head


def test_a_batch_without_a_signature_is_unsigned() -> None:
    signer = DeviceSigner.generate()
    payload = batches.encode(signer, "k-batch-1", _synthetic(signer, "k-batch-1", 2))
    assert _batch_error(_rewrite_head(payload, sig=None)) == "unsigned"
    assert _batch_error(_rewrite_head(payload, sig="")) == "unsigned"


def test_more_than_max_envelopes_is_refused_both_ways() -> None:
    signer = DeviceSigner.generate()
    envelopes = _synthetic(signer, "k-batch-1", batches.MAX_ENVELOPES + 1, sealed_size=8)
    with pytest.raises(ValueError, match="1 to"):
        batches.encode(signer, "k-batch-1", envelopes)
    with pytest.raises(ValueError, match="1 to"):
        batches.encode(signer, "k-batch-1", [])
    batches.decode(batches.encode(signer, "k-batch-1", envelopes[:-1]))  # exactly the maximum is fine
    sig = signer.sign_bytes(batches.signing_bytes("k-batch-1", envelopes))
    head = json.dumps({"v": 1, "device_id": "k-batch-1", "n": len(envelopes),
                       "sig": base64.b64encode(sig).decode()}).encode()
    assert _batch_error(b"\n".join([head, *envelopes])) == "unreadable"


def test_a_payload_over_the_size_cap_is_unreadable() -> None:
    signer = DeviceSigner.generate()
    envelopes = _synthetic(signer, "k-batch-1", 3, sealed_size=150_000)  # ~200 KB each in base64
    payload = batches.encode(signer, "k-batch-1", envelopes)  # encode does not cap the size; the daemon does
    assert len(payload) > batches.MAX_BATCH_BYTES
    assert _batch_error(payload) == "unreadable"
    batches.verify(batches.decode(batches.encode(signer, "k-batch-1", envelopes[:2])), _verify_key(signer))


def test_encode_refuses_an_envelope_with_a_raw_newline() -> None:
    signer = DeviceSigner.generate()
    envelopes = _synthetic(signer, "k-batch-1", 2)
    respaced = json.dumps(json.loads(envelopes[1]), indent=1).encode()  # valid JSON, but with raw newlines
    assert b"\n" in respaced
    with pytest.raises(ValueError, match="newline"):
        batches.encode(signer, "k-batch-1", [envelopes[0], respaced])


@pytest.mark.parametrize("head", [b"[" * 100_000, b'{"v":' * 100_000], ids=["array", "object"])
def test_a_deeply_nested_header_is_unreadable_not_a_crash(head: bytes, central_keys: CentralKeys) -> None:
    """Well under MAX_BATCH_BYTES, but deeper than Python's JSON decoder recurses: Envelope.from_bytes
    turns that RecursionError into EnvelopeError; the batch decoder must turn it into BatchError (and
    parse_batch into Refused), or one message kills the central's ingest thread (see the broker test)."""
    assert len(head) < batches.MAX_BATCH_BYTES
    assert _batch_error(head + b"\n{}") == "unreadable"
    with pytest.raises(Refused) as info:
        parse_batch(central_keys, _batch_topic("k-batch-1"), head + b"\n{}", TEST_KEYRING)
    assert info.value.message_id is None and info.value.alarm is None


# -- 2. the central's parser ------------------------------------------------------------------------------


def test_a_valid_batch_reads_as_each_envelope_alone_and_a_single_resend_dedupes(
        tmp_path: Path, outbox: Outbox, device: DeviceConfig, kiosk_home: Path, central_keys: CentralKeys) -> None:
    rows = _queue(outbox, device, 3)
    payload = batches.encode(device_signer(kiosk_home), device.device_id, [r.body for r in rows])
    items = parse_batch(central_keys, _batch_topic(device.device_id), payload, TEST_KEYRING)
    assert len(items) == 3 and all(isinstance(i, Incoming) for i in items)
    incoming = [i for i in items if isinstance(i, Incoming)]
    assert [i.envelope.id for i in incoming if i.envelope] == [r.id for r in rows]
    alone = [parse(central_keys, topics.Topic(device.device_id, "up", "submission"), r.body, TEST_KEYRING)
             for r in rows]
    for batched, single in zip(incoming, alone, strict=True):
        assert batched.topic == single.topic  # stored as a submission, not as a "batch"
        assert batched.digest == single.digest and len(batched.digest) == 64
        assert batched.envelope == single.envelope and batched.opened == single.opened
        assert batched.refusal is None and batched.opened["fields"] == FIELDS
    store = CentralStore(f"sqlite:///{tmp_path / 'dedupe.db'}")
    try:
        assert store.apply(incoming)[device.device_id] == [r.id for r in rows]
        assert store.apply([alone[1]])[device.device_id] == [rows[1].id]  # a resend alone: acked again...
        assert store.count() == 3  # ... and nothing new stored
        assert fleet.alarms_list(store, device_id=device.device_id) == []  # not taken for an id reuse
    finally:
        store.close()


def test_a_batch_on_another_kiosks_topic_is_refused_untold(tmp_path: Path, outbox: Outbox, device: DeviceConfig,
                                                           kiosk_home: Path, broker: MosquittoBroker,
                                                           central_keys: CentralKeys) -> None:
    other = make_device(tmp_path / "b", broker.url, central_keys)  # enrolled, and the batch names it
    rows = _queue(outbox, device, 2)
    payload = batches.encode(device_signer(kiosk_home), device.device_id, [r.body for r in rows])
    with pytest.raises(Refused) as info:
        parse_batch(central_keys, _batch_topic(other.device_id), payload, TEST_KEYRING)
    assert info.value.message_id is None and info.value.envelope is None
    assert info.value.alarm is not None and info.value.alarm[:2] == ("topic_mismatch", "critical")
    assert device.device_id in info.value.alarm[2]


def test_a_header_device_id_that_is_no_device_id_is_never_quoted(outbox: Outbox, device: DeviceConfig,
                                                                 kiosk_home: Path,
                                                                 central_keys: CentralKeys) -> None:
    """An envelope's device_id is checked against the device-id pattern before anything quotes it
    (Envelope.from_bytes); a batch header's must not carry free text (here personal data) into an alarm
    detail, which is stored and shown on the dashboard."""
    rows = _queue(outbox, device, 1)
    junk_id = f"{NAME} {ID_NUMBER}"
    payload = batches.encode(device_signer(kiosk_home), junk_id, [r.body for r in rows])
    with pytest.raises(Refused) as info:
        parse_batch(central_keys, _batch_topic(device.device_id), payload, TEST_KEYRING)
    assert info.value.message_id is None
    quoted = " ".join([info.value.reason, *(info.value.alarm or ())])
    assert NAME not in quoted and ID_NUMBER not in quoted, "free text from a batch header quoted in a refusal"


def test_an_envelope_naming_another_kiosk_inside_a_batch_is_refused_alone(
        tmp_path: Path, outbox: Outbox, device: DeviceConfig, kiosk_home: Path, broker: MosquittoBroker,
        central_keys: CentralKeys) -> None:
    other = make_device(tmp_path / "b", broker.url, central_keys)
    other_outbox = Outbox(tmp_path / "b" / OUTBOX_FILE)
    try:
        [foreign] = _queue(other_outbox, other, 1)
    finally:
        other_outbox.close()
    rows = _queue(outbox, device, 2)
    payload = batches.encode(device_signer(kiosk_home), device.device_id, [rows[0].body, foreign.body, rows[1].body])
    items = parse_batch(central_keys, _batch_topic(device.device_id), payload, TEST_KEYRING)
    assert len(items) == 3
    first, middle, last = items
    assert isinstance(first, Incoming) and isinstance(last, Incoming)
    assert [first.envelope.id if first.envelope else "", last.envelope.id if last.envelope else ""] == \
        [rows[0].id, rows[1].id]
    assert isinstance(middle, Refused)
    assert middle.message_id is None and middle.envelope is None  # never told: it is not this kiosk's
    assert middle.alarm is not None and middle.alarm[0] == "topic_mismatch" and other.device_id in middle.alarm[2]


def test_a_batch_from_an_unknown_kiosk_is_refused_with_an_alarm(tmp_path: Path, broker: MosquittoBroker,
                                                                central_keys: CentralKeys) -> None:
    home = tmp_path / "stranger"
    home.mkdir()
    stranger = DeviceConfig(f"x-{uuid.uuid4().hex[:10]}", "无名街道", broker.url,
                            base64.b64encode(central_keys.seal.public_raw).decode())
    signer = DeviceSigner.generate()
    signer.save(home)  # a key of its own, never enrolled
    outbox = Outbox(home / OUTBOX_FILE)
    try:
        rows = _queue(outbox, stranger, 2)
    finally:
        outbox.close()
    with pytest.raises(Refused) as info:
        parse_batch(central_keys, _batch_topic(stranger.device_id),
                    batches.encode(signer, stranger.device_id, [r.body for r in rows]), TEST_KEYRING)
    assert info.value.message_id is None and info.value.alarm is not None
    assert info.value.alarm[:2] == ("unknown_device", "critical")


def test_a_badly_signed_or_unsigned_batch_is_refused_with_an_alarm(outbox: Outbox, device: DeviceConfig,
                                                                  kiosk_home: Path,
                                                                  central_keys: CentralKeys) -> None:
    rows = _queue(outbox, device, 2)
    bodies = [r.body for r in rows]
    genuine = batches.encode(device_signer(kiosk_home), device.device_id, bodies)
    head, first, second = genuine.split(b"\n")
    damaged = bytearray(first)
    damaged[len(first) // 2] ^= 0x01
    cases = {
        "another key": (batches.encode(DeviceSigner.generate(), device.device_id, bodies), "bad_signature"),
        "a flipped byte": (b"\n".join([head, bytes(damaged), second]), "bad_signature"),
        "unsigned": (_rewrite_head(genuine, sig=None), "unsigned"),
    }
    for what, (payload, code) in cases.items():
        with pytest.raises(Refused) as info:
            parse_batch(central_keys, _batch_topic(device.device_id), payload, TEST_KEYRING)
        assert info.value.message_id is None and info.value.envelope is None, what
        assert info.value.alarm is not None and info.value.alarm[:2] == (code, "critical"), what


def test_a_non_submission_inside_a_signed_batch_is_refused_and_told(outbox: Outbox, device: DeviceConfig,
                                                                   kiosk_home: Path,
                                                                   central_keys: CentralKeys) -> None:
    rows = _queue(outbox, device, 2)
    event_id = outbox.enqueue_event(device, "rating", {"level": "满意"})
    [event] = [m for m in outbox.pending_batch(10) if m.id == event_id]
    assert event.kind == "event"
    payload = batches.encode(device_signer(kiosk_home), device.device_id, [rows[0].body, event.body, rows[1].body])
    items = parse_batch(central_keys, _batch_topic(device.device_id), payload, TEST_KEYRING)
    assert [type(i) for i in items] == [Incoming, Refused, Incoming]
    refused = items[1]
    assert isinstance(refused, Refused)
    # Authenticated by the batch signature: the kiosk is told, and its sequence number is accounted for.
    assert refused.message_id == event_id and refused.alarm is None
    assert refused.envelope is not None and refused.envelope.id == event_id


# -- 3. a real daemon, a real broker, a real central ---------------------------------------------------------


class Sniffer:
    """A plain subscriber on every kiosk's uplink: what crossed the broker, byte for byte."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = new_client(f"sniff-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, clean_start=True)
        self.client.subscribe(f"{topics.ROOT}/+/up/#", qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def seen(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def sniffer(own_broker: MosquittoBroker) -> Iterator[Sniffer]:
    s = Sniffer(own_broker)
    yield s
    s.close()


def _carried_ids(seen: list[tuple[str, bytes]], device_id: str) -> tuple[list[list[str]], list[str]]:
    """Envelope ids per ``up/batch`` message, and ids sent alone on ``up/submission``."""
    in_batches: list[list[str]] = []
    alone: list[str] = []
    for topic, payload in seen:
        kind = topics.parse(topic)
        if kind.device_id != device_id:
            continue
        if kind.kind == "batch":
            decoded = batches.decode(payload)
            in_batches.append([Envelope.from_bytes(e).id for e in decoded.envelopes])
        elif kind.kind == "submission":
            alone.append(Envelope.from_bytes(payload).id)
    return in_batches, alone


def test_a_backlog_drains_in_batches_stored_once_acked_and_without_personal_data(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys, sniffer: Sniffer) -> None:
    home = tmp_path / "kiosk"
    device = make_device(home, own_broker.url, central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id="batch")
    try:
        rows = _queue(outbox, device, 120)
        ids = {r.id for r in rows}
        daemon = start_daemon(outbox, device, batch_size=20)
        try:
            wait_until(lambda: outbox.counts()["acked"] == 120, timeout=60, what="all 120 submissions acked")
        finally:
            daemon.stop()
        assert outbox.counts()["pending"] == 0 and outbox.counts()["sent"] == 0
        assert central.store.count() == 120
        assert {s["id"] for s in central.store.list_masked()} == ids
        assert fleet.alarms_list(central.store, device_id=device.device_id) == []

        # What crossed the broker: batches of at most 20, together carrying every submission.
        def carried_all() -> bool:
            in_batches, alone = _carried_ids(sniffer.seen(), device.device_id)
            return {i for b in in_batches for i in b} | set(alone) >= ids

        wait_until(carried_all, what="the sniffer to see every submission")
        in_batches, alone = _carried_ids(sniffer.seen(), device.device_id)
        assert in_batches, "no up/batch message crossed the broker"
        assert all(1 < len(b) <= 20 for b in in_batches)
        assert len(in_batches) + len(alone) < 120  # fewer MQTT messages than submissions: the point
        escaped = json.dumps(NAME).strip('"').encode()  # \uXXXX form, in case something ASCII-escapes
        for topic, payload in sniffer.seen():
            for secret in (NAME.encode(), ID_NUMBER.encode(), escaped):
                assert secret not in payload, f"personal data in a message on {topic}"

        # One stored envelope again, alone on up/submission (a resend after a lost ack): acked, not stored.
        wire = Wire(own_broker, device.device_id)
        try:
            wire.publish(device.device_id, "submission", rows[7].body)
            wait_until(lambda: any(rows[7].id in a.ids for a in wire.acks), what="the resend acked")
        finally:
            wire.close()
        assert central.store.count() == 120
        assert fleet.alarms_list(central.store, device_id=device.device_id) == []
    finally:
        central.worker.stop()
        central.store.close()
        outbox.close()


def test_batch_size_one_sends_each_submission_alone(tmp_path: Path, own_broker: MosquittoBroker,
                                                    central_keys: CentralKeys, sniffer: Sniffer) -> None:
    home = tmp_path / "kiosk"
    device = make_device(home, own_broker.url, central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id="single")
    try:
        rows = _queue(outbox, device, 5)
        daemon = start_daemon(outbox, device, batch_size=1)
        try:
            wait_until(lambda: outbox.counts()["acked"] == 5, what="all 5 acked")
        finally:
            daemon.stop()
        assert central.store.count() == 5
        wait_until(lambda: len(_carried_ids(sniffer.seen(), device.device_id)[1]) >= 5, what="5 sniffed")
        in_batches, alone = _carried_ids(sniffer.seen(), device.device_id)
        assert in_batches == [] and set(alone) == {r.id for r in rows}
    finally:
        central.worker.stop()
        central.store.close()
        outbox.close()


# -- 4. forgeries through the broker -----------------------------------------------------------------------


@pytest.fixture
def wire(broker: MosquittoBroker, device: DeviceConfig) -> Iterator[Wire]:
    w = Wire(broker, device.device_id)
    yield w
    w.close()


def _alarm(central: Central, device_id: str, code: str) -> dict[str, Any] | None:
    return next((a for a in fleet.alarms_list(central.store, device_id=device_id) if a["code"] == code), None)


def test_a_forged_batch_stores_nothing_and_raises_an_alarm(central: Central, outbox: Outbox, device: DeviceConfig,
                                                           kiosk_home: Path, wire: Wire) -> None:
    rows = _queue(outbox, device, 3)
    bodies = [r.body for r in rows]  # genuine envelopes, each with the kiosk's own signature...
    forged = batches.encode(DeviceSigner.generate(), device.device_id, bodies)  # ... under a forged batch one
    wire.publish(device.device_id, "batch", forged)
    wait_until(lambda: _alarm(central, device.device_id, "bad_signature") is not None, what="the alarm")
    alarm = _alarm(central, device.device_id, "bad_signature")
    assert alarm is not None and alarm["open"] and alarm["severity"] == "critical" and "batch" in alarm["detail"]
    assert central.worker.refused_total >= 1
    assert central.store.count() == 0
    assert all(not a.rejected and not a.ids for a in wire.acks)  # the kiosk is not told
    # The real kiosk's batch of the same envelopes is not blocked by the forgery: stored and acked.
    wire.publish(device.device_id, "batch", batches.encode(device_signer(kiosk_home), device.device_id, bodies))
    wait_until(lambda: {i for a in wire.acks for i in a.ids} >= {r.id for r in rows}, what="the genuine batch acked")
    assert central.store.count() == 3
    assert all(not a.rejected for a in wire.acks)


def test_a_deeply_nested_batch_does_not_stop_the_central(central: Central, outbox: Outbox, device: DeviceConfig,
                                                         wire: Wire) -> None:
    """One malformed up/batch (what any client allowed to publish on a kiosk topic can send) must be
    refused like any unreadable message; the central keeps storing what comes next."""
    wire.publish(device.device_id, "batch", b"[" * 100_000 + b"\n{}")
    [row] = _queue(outbox, device, 1)
    wire.publish(device.device_id, "submission", row.body)
    wait_until(lambda: any(row.id in a.ids for a in wire.acks),
               what="the next submission acked (the central stops ingesting after a malformed batch?)")
    assert central.store.count() == 1
