"""Issue 13 item 6 for kiosks: a kiosk's MQTT client id is unguessable and derived from its device key
(``kiosk-{device id}-{16 bytes of its Ed25519 signature}``), so a stranger on the anonymous enrolment
listener, who can read device ids off the dashboard, cannot take the kiosk's session over (client ids are
broker-wide); and the central still cuts a revoked kiosk off, with the id the kiosk announces in its status."""

from __future__ import annotations

import json
import re
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt

from central.cert_service import drop_connection
from sync.daemon.service import SyncDaemon
from sync.outbox.store import open_outbox
from sync.protocol.signing import DeviceSigner, KeyFile
from sync.runtime.backoff import Backoff
from sync.runtime.mqtt import is_kiosk_client_id, kiosk_client_id
from tests import test_trust_tls as trust_tls
from tests.helpers import wait_until
from tests.test_trust_hardening_tls import _stranger_on_the_enrolment_listener
from tests.test_trust_tls import probe

fleet = trust_tls.fleet  # the module-scoped TLS fleet on the shipped broker configuration


def test_the_id_is_the_device_keys_and_unguessable_without_it(tmp_path: Path) -> None:
    device_id = "k-0001"
    key = DeviceSigner.generate()
    key.save(tmp_path)
    first = kiosk_client_id(device_id, KeyFile(tmp_path).signer())
    assert re.fullmatch(r"kiosk-k-0001-[0-9a-f]{32}", first) and is_kiosk_client_id(device_id, first)
    assert kiosk_client_id(device_id, KeyFile(tmp_path).signer()) == first  # a new process reads the same key
    assert kiosk_client_id(device_id, DeviceSigner.generate()) != first  # another key, another id
    assert kiosk_client_id("k-0002", key) != first
    # Before provisioning (no key): random, never the old kiosk-{device id}.
    unkeyed = {kiosk_client_id(device_id, None) for _ in range(3)}
    assert len(unkeyed) == 3 and all(is_kiosk_client_id(device_id, c) for c in unkeyed)
    for bad in (f"kiosk-{device_id}", f"kiosk-{device_id}-{'0' * 31}", f"kiosk-{device_id}-{'G' * 32}",
                f"kiosk-k-0002-{'0' * 32}", None, 7):
        assert not is_kiosk_client_id(device_id, bad)


def _status_watch(fleet: trust_tls.Fleet, device_id: str) -> tuple[trust_tls.Probe, list[dict[str, Any]],
                                                                    threading.Event]:
    """A probe with the central's identity reading the kiosk's live (not retained) statuses and a marker."""
    central = probe(fleet.broker.port, f"central-test-{uuid.uuid4().hex}", fleet.central_tls)
    statuses: list[dict[str, Any]] = []
    marker = threading.Event()

    def on_message(_c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        if m.topic.endswith("/marker"):
            marker.set()
        elif not m.retain:
            statuses.append(json.loads(m.payload))

    central.client.on_message = on_message
    subscribed = threading.Event()
    central.client.on_subscribe = lambda *_a: subscribed.set()
    wait_until(lambda: central.connack == ["Success"], what="the central's probe")
    central.client.subscribe([(f"kiosk/v1/{device_id}/up/status", 1), (f"kiosk/v1/_test/{device_id}/marker", 1)])
    assert subscribed.wait(10)
    return central, statuses, marker


def stranger_view(fleet: trust_tls.Fleet) -> Any:
    """All that _stranger_on_the_enrolment_listener reads of a TlsCentral: its broker."""
    return SimpleNamespace(broker=fleet.broker)


def test_a_stranger_on_the_enrolment_listener_cannot_kick_a_kiosk_off(fleet: trust_tls.Fleet, tmp_path: Path) -> None:
    home = tmp_path / "kiosk"
    device = trust_tls.enrol(fleet, home)
    outbox = open_outbox(home, device)
    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.3))
    daemon.start()
    central, statuses, marker = _status_watch(fleet, device.device_id)
    try:
        wait_until(daemon.connected.is_set, what="the kiosk connected")
        real = daemon.client_id
        assert is_kiosk_client_id(device.device_id, real)
        for guess in (f"kiosk-{device.device_id}", device.device_id, f"kiosk-{device.device_id}-0",
                      f"kiosk-{device.device_id}-{'0' * 32}", f"kiosk-{device.device_id}-1"):
            assert _stranger_on_the_enrolment_listener(stranger_view(fleet), guess) == ["Success"]
        # A takeover publishes the kiosk's Will (offline) before the stranger's CONNACK: a marker published
        # now arrives after any such Will.
        central.client.publish(f"kiosk/v1/_test/{device.device_id}/marker", b"m", qos=1)
        assert marker.wait(10)
        assert [s["state"] for s in statuses if s["state"] == "offline"] == [], statuses
        # The control: the real id, known, does take the session over (the Will is published).
        assert _stranger_on_the_enrolment_listener(stranger_view(fleet), real) == ["Success"]
        wait_until(lambda: any(s["state"] == "offline" for s in statuses), what="the control's takeover")
        # The kiosk comes back with the same id (the same key): stable across connections.
        wait_until(lambda: any(s["state"] == "online" for s in statuses), what="the kiosk back online")
        assert daemon.client_id == real and statuses[-1]["client"] == real
    finally:
        central.stop()
        daemon.stop()
    # A restarted daemon (a new process would read the same key file) connects with the same id.
    again = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.3)).start()
    try:
        wait_until(again.connected.is_set, what="the kiosk connected again")
        assert again.client_id == real
    finally:
        again.stop()
    # A new device key (re-provisioning) gives a new id.
    DeviceSigner.generate().save(home)
    assert kiosk_client_id(device.device_id, KeyFile(home).signer()) != real
    outbox.close()


def test_the_central_cuts_a_revoked_kiosk_off_with_the_id_it_announced(fleet: trust_tls.Fleet,
                                                                       tmp_path: Path) -> None:
    home = tmp_path / "kiosk"
    device = trust_tls.enrol(fleet, home)
    outbox = open_outbox(home, device)
    daemon = SyncDaemon(outbox, device, backoff=Backoff(0.05, 0.3)).start()
    central, statuses, _marker = _status_watch(fleet, device.device_id)
    try:
        wait_until(daemon.connected.is_set, what="the kiosk connected")
        assert drop_connection(fleet.broker.url, fleet.central_tls, device.device_id)
        wait_until(lambda: any(s["state"] == "offline" for s in statuses), what="the kiosk's session taken over")
    finally:
        central.stop()
        daemon.stop()
        outbox.close()
