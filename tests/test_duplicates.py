"""A duplicate publish of the same message id leaves one row at the central, and is acked again."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from devtools.broker import MosquittoBroker
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.runtime.mqtt import new_client
from tests.helpers import TEST_KEYRING, Central, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "赵六"}]


def test_same_message_published_twice_is_stored_once_and_acked_twice(
        broker: MosquittoBroker, central: Central, outbox: Outbox, device: DeviceConfig) -> None:
    receipt = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    [msg] = outbox.pending_batch(10)

    acks: list[dict[str, Any]] = []
    subscribed = threading.Event()
    client = new_client(f"dup-{device.device_id}")
    client.on_subscribe = lambda *_a: subscribed.set()
    client.on_message = lambda _c, _u, m: acks.append(json.loads(m.payload))
    host, port = device.broker_host_port
    client.connect(host, port, clean_start=True)
    client.loop_start()
    try:
        client.subscribe(topics.down(device.device_id, "ack"), qos=1)
        assert subscribed.wait(5)
        for n in (1, 2):  # the second copy arrives after the first is stored and acked
            client.publish(topics.up(device.device_id, "submission"), msg.body, qos=1).wait_for_publish(5)
            wait_until(lambda n=n: len(acks) >= n, what=f"ack {n}")
    finally:
        client.loop_stop()
        client.disconnect()
    assert central.store.count() == 1
    assert all(receipt.message_id in a["ids"] for a in acks)


def test_duplicates_inside_one_batch_and_across_batches(tmp_path: Path, central: Central, outbox: Outbox,
                                                         device: DeviceConfig, central_keys: Any) -> None:
    from central.messages import parse

    outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    [msg] = outbox.pending_batch(10)
    item = parse(central_keys, topics.Topic(device.device_id, "up", "submission"), msg.body, TEST_KEYRING)
    mid = item.envelope.id if item.envelope else ""
    assert central.store.apply([item, item]) == {device.device_id: [mid, mid]}
    assert central.store.apply([item]) == {device.device_id: [mid]}
    assert central.store.count() == 1


def test_paho_reason_codes_are_objects_with_is_failure() -> None:
    """The daemon relies on MQTT 5 reason codes exposing is_failure (paho 2.x)."""
    rc = mqtt.ReasonCode(mqtt.PacketTypes.PUBACK, identifier=0x87)  # not authorised
    assert rc.is_failure
