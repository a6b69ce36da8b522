"""The central holds each receipt number once (issue 13 item 3): a new submission that carries a receipt
number the same kiosk already used for another submission id is refused and an operator alarmed; the same id
sent again is an ordinary duplicate and is acked again. Another kiosk's number (device ids that end alike) is
stored with an alarm."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from central import fleet
from central.keys import CentralKeys
from central.messages import Incoming, parse
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.protocol.envelope import Envelope
from tests.helpers import TEST_KEYRING, Central, make_device, resign

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "孙八"}]


def _item(keys: CentralKeys, device: DeviceConfig, body: bytes) -> Incoming:
    return parse(keys, topics.Topic(device.device_id, "up", "submission"), body, TEST_KEYRING)


def _with_receipt(home: Path, body: bytes, receipt_no: str) -> bytes:
    env = Envelope.from_bytes(body)
    return resign(home, dataclasses.replace(env, meta={**env.meta, "receipt_no": receipt_no}, sig=b""))


def test_a_receipt_number_held_by_another_submission_is_refused_with_an_alarm(
        central: Central, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys, kiosk_home: Path) -> None:
    first = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    second = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    third = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    bodies = {m.id: m.body for m in outbox.pending_batch(10)}
    store = central.store
    original = _item(central_keys, device, bodies[first.message_id])
    assert store.apply([original]) == {device.device_id: [first.message_id]}

    # Another submission id with the number the central already holds (a kiosk that reissued numbers).
    reused = _item(central_keys, device, _with_receipt(kiosk_home, bodies[second.message_id], first.receipt_no))
    acks = store.apply([reused])
    assert second.message_id not in acks.get(device.device_id, [])
    [(refused_id, reason)] = acks.rejected[device.device_id]
    assert refused_id == second.message_id and "receipt number" in reason
    assert store.count() == 1
    [alarm] = [a for a in fleet.alarms_list(store, device_id=device.device_id) if a["code"] == "receipt_reused"]
    assert first.receipt_no in alarm["detail"] and alarm["severity"] == "critical"

    # Two new submissions with one number inside one batch: the first is stored, the second refused.
    clash = _item(central_keys, device, _with_receipt(kiosk_home, bodies[third.message_id], second.receipt_no))
    fine = _item(central_keys, device, bodies[second.message_id])
    acks = store.apply([fine, clash])
    assert acks.get(device.device_id) == [second.message_id]
    assert [i for i, _ in acks.rejected[device.device_id]] == [third.message_id]
    assert store.count() == 2

    # The same id sent again is a duplicate, acked again, and no new alarm.
    assert store.apply([original]) == {device.device_id: [first.message_id]}
    assert not store.apply([original]).rejected
    assert len([a for a in fleet.alarms_list(store, open_only=False, device_id=device.device_id)
                if a["code"] == "receipt_reused"]) == 1


def test_another_kiosks_number_is_stored_with_an_alarm_not_refused(
        central: Central, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys, tmp_path: Path,
        broker: MosquittoBroker) -> None:
    """Receipt numbers carry four characters of the device id: two kiosks whose ids end alike issue the same
    numbers. Neither is at fault; refusing would leave a resident's application unprocessed."""
    first = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    [mine] = outbox.pending_batch(10)
    other_home = tmp_path / "other"
    other = make_device(other_home, broker.url, central_keys)
    other_outbox = Outbox(other_home / OUTBOX_FILE)
    try:
        theirs = other_outbox.enqueue_submission(other, "MZ-LNYD-001", FIELDS)
        [body] = [m.body for m in other_outbox.pending_batch(10)]
    finally:
        other_outbox.close()
    store = central.store
    assert store.apply([_item(central_keys, device, mine.body)]) == {device.device_id: [first.message_id]}
    alike = _item(central_keys, other, _with_receipt(other_home, body, first.receipt_no))
    acks = store.apply([alike])
    assert acks.get(other.device_id) == [theirs.message_id] and not acks.rejected
    assert store.count() == 2
    [alarm] = [a for a in fleet.alarms_list(store, device_id=other.device_id) if a["code"] == "receipt_collision"]
    assert device.device_id in alarm["detail"] and first.receipt_no in alarm["detail"]


def test_resends_and_a_new_id_with_a_resent_number_in_one_batch(
        central: Central, outbox: Outbox, device: DeviceConfig, central_keys: CentralKeys, kiosk_home: Path) -> None:
    """The known ids and the held numbers come from one query (``submission_conflicts.known_and_held``): a known
    id's own number is no conflict for its resend, but a new id in the same batch carrying it is refused."""
    first = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    second = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    third = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    bodies = {m.id: m.body for m in outbox.pending_batch(10)}
    store = central.store
    one, two = (_item(central_keys, device, bodies[m.message_id]) for m in (first, second))
    assert store.apply([one, two]) == {device.device_id: [first.message_id, second.message_id]}

    reused = _item(central_keys, device, _with_receipt(kiosk_home, bodies[third.message_id], second.receipt_no))
    acks = store.apply([one, reused, two])
    assert acks.get(device.device_id) == [first.message_id, second.message_id]
    assert [i for i, _ in acks.rejected[device.device_id]] == [third.message_id]
    assert store.count() == 2
    [alarm] = [a for a in fleet.alarms_list(store, device_id=device.device_id) if a["code"] == "receipt_reused"]
    assert second.message_id in alarm["detail"]

    # Only resends: acked again, no alarm, nothing refused.
    acks = store.apply([two, one])
    assert acks == {device.device_id: [second.message_id, first.message_id]} and not acks.rejected
