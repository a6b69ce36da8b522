"""The sync engine's promises on real parts: attachments resume and reassemble, events and telemetry
arrive, the store refuses new submissions above its high-water mark without losing any, a corrupt
database is quarantined, and bad messages are refused cleanly."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.keys import CentralKeys
from central.messages import Refused, parse
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import CHUNK_BYTES, Attachment, Limits, Outbox, OutboxFull, open_outbox
from sync.protocol import topics
from sync.protocol.sealing import open_sealed
from tests.helpers import TEST_KEYRING, Central, make_device, resign, start_central, start_daemon, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "周八"}]


def _photo(size: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(str(seed).encode()).digest(size)


def test_attachments_are_chunked_sealed_and_reassembled(central: Central, outbox: Outbox, device: DeviceConfig,
                                                        central_keys: CentralKeys) -> None:
    photos = [_photo(2 * CHUNK_BYTES + 1000, 1), _photo(5000, 2)]
    r = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS,
                                  [Attachment("户口本.jpg", "image/jpeg", photos[0]),
                                   Attachment("证明.jpg", "image/jpeg", photos[1])])
    kinds = outbox.counts_by_kind()
    assert kinds["attachment"]["pending"] == 3 + 1  # 3 chunks + 1 chunk
    for msg in outbox.pending_batch(100):
        assert len(msg.body) <= 256 * 1024
        assert photos[1][:64] not in msg.body
    daemon = start_daemon(outbox, device)
    try:
        wait_until(lambda: outbox.counts()["acked"] == 1, what="the submission acked once complete")
    finally:
        daemon.stop()
    assert outbox.counts_by_kind()["attachment"]["acked"] == 4
    for i, photo in enumerate(photos):
        stored = central.store.attachment(r.message_id, i)
        assert stored is not None
        assert open_sealed(central_keys.seal.private_raw, stored.sealed, f"{r.message_id}/{i}".encode()) == photo
    [record] = central.store.list_masked()
    assert record["complete"] is True and record["attachments"] == 2


def test_submission_is_not_acked_until_its_last_chunk_is_stored(
        central: Central, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys) -> None:
    """An upload cut off half way resumes: chunks already stored are acked and never sent again."""
    photo = Attachment("a.jpg", "image/jpeg", _photo(3 * CHUNK_BYTES - 200))
    r = outbox.enqueue_submission(device, "X", FIELDS, [photo])
    batch = outbox.pending_batch(100)
    sub, chunks = batch[0], batch[1:]
    assert sub.id == r.message_id and len(chunks) == 3
    items = [parse(central_keys, topics.Topic(device.device_id, "up", m.kind), m.body, TEST_KEYRING)
             for m in [sub, *chunks[:2]]]
    acks = central.store.apply(items)
    assert acks[device.device_id] == [chunks[0].id, chunks[1].id]  # not the submission: a file is missing
    outbox.mark_acked(acks[device.device_id])
    remaining = outbox.pending_batch(100)
    assert [m.id for m in remaining] == [sub.id, chunks[2].id]  # resume where it stopped
    last = parse(central_keys, topics.Topic(device.device_id, "up", "attachment"), chunks[2].body, TEST_KEYRING)
    assert central.store.apply([last])[device.device_id] == [chunks[2].id, sub.id]
    assert central.store.count(complete_only=True) == 1


def test_a_chunk_that_fails_its_checksum_is_refused(outbox: Outbox, device: DeviceConfig,
                                                    central_keys: CentralKeys) -> None:
    outbox.enqueue_submission(device, "X", FIELDS, [Attachment("a.jpg", "image/jpeg", _photo(1000))])
    chunk = outbox.pending_batch(10)[1]
    env = json.loads(chunk.body)
    env["sealed"] = env["sealed"][:-8] + "AAAAAAA="
    with pytest.raises(Refused, match="checksum") as info:
        parse(central_keys, topics.Topic(device.device_id, "up", "attachment"),
              resign(outbox.path.parent, json.dumps(env).encode()), TEST_KEYRING)
    assert info.value.message_id == chunk.id


def test_events_and_telemetry_reach_the_central(central: Central, outbox: Outbox, device: DeviceConfig) -> None:
    outbox.enqueue_event(device, "rating", {"level": "满意", "service_code": "X"})
    outbox.enqueue_event(device, "complaint", {"service_code": "X"},
                         private={"text": "排队太久", "phone": "13800000000"})
    outbox.put_driver_health([{"driver": "camera.scanner", "state": "failed", "last_error": "camera_unplugged",
                               "last_success": None, "changed_at": 1.0}])
    daemon = start_daemon(outbox, device, heartbeat_interval_s=0.2)
    try:
        wait_until(lambda: outbox.counts_by_kind().get("event", {}).get("acked", 0) == 2, what="events acked")
        wait_until(lambda: (central.store.device(device.device_id) or {}).get("telemetry", {}).get("drivers"),
                   what="a heartbeat at the central")
    finally:
        daemon.stop()
    types = sorted(e["type"] for e in central.store.events())
    assert types == ["complaint", "rating"]
    telemetry = central.store.device(device.device_id)["telemetry"]  # type: ignore[index]
    assert telemetry["drivers"][0]["state"] == "failed"
    assert telemetry["versions"]["app"] and telemetry["disk_free"] > 0
    assert "event" in telemetry["queue"]
    assert outbox.telemetry_count() <= 1  # delivered heartbeats leave the queue


def test_telemetry_queue_is_capped_and_expires(kiosk_home: Path, device: DeviceConfig) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE, Limits(max_telemetry_rows=5, telemetry_ttl_s=3600))
    for i in range(12):
        ob.enqueue_telemetry(device, {"n": i})
    assert ob.telemetry_count() == 5
    assert [json.loads(b)["meta"]["n"] for _, b in ob.telemetry_batch(10)] == [7, 8, 9, 10, 11]
    ob.close()
    ob = Outbox(kiosk_home / OUTBOX_FILE, Limits(telemetry_ttl_s=-1))  # already expired when written
    ob.enqueue_telemetry(device, {"n": 99})
    ob.enqueue_telemetry(device, {"n": 100})  # each write also drops what has expired
    assert 99 not in [json.loads(b)["meta"]["n"] for _, b in ob.telemetry_batch(10)]
    assert ob.telemetry_count() == 5  # the five unexpired rows; both expired ones are gone
    ob.close()


def test_high_water_refuses_new_submissions_and_loses_nothing(kiosk_home: Path, device: DeviceConfig,
                                                             central_keys: CentralKeys, broker: MosquittoBroker,
                                                             tmp_path: Path) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE, Limits(max_undelivered=3))
    receipts = [ob.enqueue_submission(device, "X", FIELDS) for _ in range(3)]
    with pytest.raises(OutboxFull) as info:
        ob.enqueue_submission(device, "X", FIELDS)
    assert info.value.code == "queue_full" and "暂停受理" in info.value.message
    assert ob.counts()["pending"] == 3
    central = start_central(broker.url, tmp_path / "c.db", central_keys, worker_id="hw")
    daemon = start_daemon(ob, device, heartbeat_interval_s=0.1)
    try:
        # The daemon raises the alarm, then delivery drains the queue and new submissions are accepted again.
        wait_until(lambda: ob.counts()["pending"] == 0 and ob.counts()["sent"] == 0, what="the queue to drain")
        assert central.store.count() == 3
        assert {r.message_id for r in receipts} == {s["id"] for s in central.store.list_masked()}
        ob.enqueue_submission(device, "X", FIELDS)
        wait_until(lambda: any(e["meta"].get("code") == "submissions_refused" for e in central.store.events("alarm")),
                   what="the refusal alarm at the central")
    finally:
        daemon.stop()
        central.worker.stop()
        central.store.close()
        ob.close()


def test_disk_low_refuses_with_its_own_reason(kiosk_home: Path, device: DeviceConfig) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE, Limits(min_free_bytes=2**62))
    refusal = ob.refusal()
    assert refusal is not None and refusal.code == "disk_low" and "存储空间不足" in refusal.message
    with pytest.raises(OutboxFull):
        ob.enqueue_submission(device, "X", FIELDS)
    ob.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_database_is_quarantined_and_a_fresh_one_accepts(kiosk_home: Path, device: DeviceConfig,
                                                                 damage: str) -> None:
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    for _ in range(5):
        ob.enqueue_submission(device, "X", FIELDS)
    ob.close()
    path = kiosk_home / OUTBOX_FILE
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:
        path.write_bytes(data[: len(data) // 3] + b"\x00" * 100)
    fresh = open_outbox(kiosk_home, device)
    try:
        assert fresh.quarantined is not None and fresh.quarantined.exists()
        assert fresh.quarantined.read_bytes()[:100] == path.read_bytes()[:100] or fresh.quarantined.stat().st_size > 0
        events = fresh.pending_batch(10)
        alarm = json.loads(events[0].body)
        assert alarm["kind"] == "event" and alarm["meta"]["code"] == "db_quarantined"
        r = fresh.enqueue_submission(device, "X", FIELDS)
        assert r.seq > 5  # numbers never repeat the quarantined database's
        assert fresh.states()["quarantined"] == fresh.quarantined.name
    finally:
        fresh.close()


@settings(max_examples=150, deadline=None)
@given(payload=st.binary(max_size=600), kind=st.sampled_from(sorted(topics.UP_KINDS)))
def test_central_parse_refuses_garbage_cleanly(payload: bytes, kind: str) -> None:
    keys = _KEYS
    with pytest.raises(Refused):
        parse(keys, topics.Topic("k-1", "up", kind), payload, TEST_KEYRING)


_KEYS = CentralKeys.generate()


def test_envelope_from_another_device_is_refused_without_telling_either(outbox: Outbox, device: DeviceConfig,
                                                                        central_keys: CentralKeys) -> None:
    outbox.enqueue_submission(device, "X", FIELDS)
    [msg] = outbox.pending_batch(10)
    with pytest.raises(Refused, match="does not match the topic") as info:
        parse(central_keys, topics.Topic("someone-else", "up", "submission"), msg.body, TEST_KEYRING)
    assert info.value.message_id is None


def test_sealed_for_another_central_is_rejected_and_kept(tmp_path: Path, broker: MosquittoBroker,
                                                          central: Central, central_keys: CentralKeys) -> None:
    # A stale seal key, but this central's command key: the kiosk must trust the (signed) refusal.
    wrong = make_device(tmp_path / "k", broker.url,
                        CentralKeys(CentralKeys.generate().seal, central_keys.command_private_raw))
    ob = Outbox(tmp_path / "k" / OUTBOX_FILE)
    r = ob.enqueue_submission(wrong, "X", FIELDS)
    daemon = start_daemon(ob, wrong)
    try:
        wait_until(lambda: ob.counts()["rejected"] == 1, what="the central's refusal")
    finally:
        daemon.stop()
    row = ob.find(r.message_id)
    assert row is not None and row.body is not None and "another key" in (row.last_error or "")
    assert central.store.count() == 0
    ob.close()
