"""Issue 13, trust items on the plain-MQTT broker and without a broker: enrolment needs proof of the token's
secret (item 5), the central's client ids cannot be guessed (item 6), the central bounds what it reads per
topic (item 7) and leaves revoked kiosks out of every downlink (item 8)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from central.ca import FleetCA
from central.cert_service import revoke
from central.commands import PublishError, catalog_args, fleet_device_ids, send_command, send_to_devices
from central.enrolment import device_key, issue_token, list_tokens
from central.ingest import MAX_UPLINK_BYTES
from central.keys import CentralKeys
from central.models import Device, Submission
from central.status_push import resend_site, set_status
from devtools.broker import MosquittoBroker
from kiosk.service_mode.provisioning import provision
from sync.protocol import topics
from sync.protocol.envelope import MAX_ENVELOPE_BYTES, Envelope
from sync.protocol.ids import new_message_id, receipt_number
from sync.protocol.signing import DeviceSigner
from sync.runtime.mqtt import new_client
from tests.helpers import Central, Wire, wait_until


def _forged_enrolment(device_id: str, token_id: str, signer: DeviceSigner, **extra: str) -> tuple[str, bytes]:
    meta = {"type": "enrol", "token_id": token_id,
            "device_public_key": base64.b64encode(signer.public_raw).decode(), **extra}
    env = Envelope(id=new_message_id(), seq=1, device_id=device_id, kind="event", created_at=time.time(),
                   sealed=b"", meta=meta)
    return env.id, signer.sign(env).to_bytes()


def test_a_stranger_with_the_token_id_and_device_id_cannot_enrol_and_the_kiosk_still_can(
        tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    issued = issue_token(central.store, central_keys, site="朝阳门街道", broker_url=broker.url)
    # What a dashboard viewer sees on the enrolment page: nothing more is needed for this attack.
    [shown] = list_tokens(central.store)
    assert "secret" not in " ".join(shown) and issued.token not in str(shown)
    stranger = DeviceSigner.generate()
    wire = Wire(broker, shown["device_id"])
    try:
        first = _forged_enrolment(shown["device_id"], shown["token_id"], stranger)
        # A guessed proof is no better than none.
        second = _forged_enrolment(shown["device_id"], shown["token_id"], stranger,
                                   proof=base64.b64encode(b"x" * 32).decode())
        for _id, payload in (first, second):
            wire.publish(shown["device_id"], "event", payload)

        def answered() -> dict[str, str]:
            return {i: why for a in wire.acks for i, why in a.rejected} | {i: "acked" for a in wire.acks for i in a.ids}

        wait_until(lambda: {first[0], second[0]} <= set(answered()), what="both forgeries answered")
        assert answered()[first[0]] == answered()[second[0]] == "bad_proof"
    finally:
        wire.close()
    assert device_key(central.store, shown["device_id"]) is None
    [after] = list_tokens(central.store)
    assert after["used_at"] is None  # the token is not spent: the real kiosk is not locked out

    home = tmp_path / "kiosk"
    home.mkdir()
    result = provision(home, issued.token, timeout_s=20)
    assert result.ok and result.code == "enrolled", result
    assert device_key(central.store, issued.device_id) != base64.b64encode(stranger.public_raw).decode()
    assert device_key(central.store, issued.device_id) is not None


def test_the_enrolment_page_shows_nothing_that_enrols(central: Central, central_keys: CentralKeys,
                                                       broker: MosquittoBroker) -> None:
    issued = issue_token(central.store, central_keys, site="S", broker_url=broker.url)
    [row] = list_tokens(central.store)
    from sync.protocol.enrolment import read_token

    body = read_token(issued.token)
    shown = " ".join(str(v) for v in row.values())
    assert body.secret not in shown and issued.token not in shown
    assert set(row) <= {"token_id", "device_id", "site", "created_at", "expires_at", "used_at", "state"}
    assert row["state"] == "open"
    assert topics.check_device_id(row["device_id"])


# -- item 8: revoked kiosks are left out of every downlink ----------------------------------------------------


class CommandTap:
    """Every ``down/cmd`` the broker delivers, by device id (a raw subscriber on the plain broker)."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.got: dict[str, list[bytes]] = {}
        self.client = new_client(f"tap-{uuid.uuid4().hex}")
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.got.setdefault(m.topic.split("/")[2], []).append(
            bytes(m.payload))
        self.client.connect("127.0.0.1", broker.port, clean_start=True)
        self.client.subscribe("kiosk/v1/+/down/cmd", qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_revoked_kiosks_get_no_status_push_command_or_catalogue(
        tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    # A site of its own: the central fixture's store is shared with other tests that put kiosks on 东四街道.
    store, site = central.store, f"东四街道-{uuid.uuid4().hex[:6]}"
    ok, gone = f"k-ok-{uuid.uuid4().hex[:6]}", f"k-gone-{uuid.uuid4().hex[:6]}"
    receipt = receipt_number(ok, 1, dt.datetime.now())
    now = time.time()
    with store.session() as s, s.begin():
        for d in (ok, gone):
            s.add(Device(device_id=d, site=site, status="online", conn=1, status_at=now, last_seen=now,
                         version="1", telemetry_json="{}"))
        s.add(Submission(id=str(uuid.uuid4()), device_id=ok, seq=1, service_code="MZ-LNYD-001", receipt_no=receipt,
                         created_at=now, received_at=now, fields_json="[]", attachments_expected=0, complete=True,
                         digest=None))
    revoke(store, FleetCA.open(tmp_path / "central"), gone, reason="stolen")
    tap = CommandTap(broker)
    try:
        # Status push, and the operator's "send the site's statuses again".
        assert set_status(store, central_keys, receipt, "办理中", actor="t", broker_url=broker.url).devices == [ok]
        assert resend_site(store, central_keys, broker.url, site)["devices"] == [ok]
        # Commands to a site or the fleet: the registry's list leaves the revoked kiosk out.
        assert fleet_device_ids(store, site) == [ok] and gone not in fleet_device_ids(store)
        assert send_to_devices(central_keys, broker.url, fleet_device_ids(store, site), "diagnostics",
                               site=site).published == [ok]
        # A catalogue update, the same way.
        doc = json.loads((Path(__file__).parents[1] / "kiosk/catalog/default_catalog.json").read_text("utf-8"))
        doc["version"] = "2099.1.0"
        (tmp_path / "cat.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        cat = catalog_args(central_keys, tmp_path / "central", tmp_path / "cat.json")
        assert send_to_devices(central_keys, broker.url, fleet_device_ids(store, site), "catalog_update", cat,
                               site=site).published == [ok]
        # A command named for the revoked kiosk itself is refused before anything is published.
        with pytest.raises(PublishError, match="revoked"):
            send_command(central_keys, broker.url, gone, "diagnostics", store=store)
        wait_until(lambda: len(tap.got.get(ok, [])) == 4, what="the four downlinks at the kiosk in good standing")
    finally:
        tap.close()
    assert gone not in tap.got


# -- item 7: the central bounds what it reads, per topic -------------------------------------------------------


def test_the_central_never_reads_a_2_mib_publish_and_drops_an_oversize_status_before_parsing(
        broker: MosquittoBroker, central: Central) -> None:
    """The plain test broker has no size limit of its own: what is bounded here is the central. It asks the
    broker (MQTT 5 Maximum Packet Size) never to deliver a packet larger than the largest message a kiosk can
    send, and drops a message over its topic's own bound before parsing it."""
    device_id = f"t-{uuid.uuid4().hex[:10]}"
    worker = central.worker
    wire = Wire(broker, device_id)
    try:
        wire.publish(device_id, "submission", b"{" + b" " * (2 * 1024 * 1024) + b"}")  # 2 MiB
        wire.publish(device_id, "status", b'{"state": "online", "pad": "' + b"x" * (64 * 1024) + b'"}')
        wire.publish(device_id, "status", json.dumps({"state": "online", "conn": 1}).encode())  # a real one
        wait_until(lambda: (central.store.device(device_id) or {}).get("status") == "online",
                   what="the small status stored")
    finally:
        wire.close()
    assert worker.largest_payload < MAX_ENVELOPE_BYTES + 64 * 1024  # the 2 MiB never reached the central
    assert worker.oversize_total == 1  # the padded status: dropped unparsed
    assert MAX_UPLINK_BYTES["status"] < 64 * 1024 < MAX_UPLINK_BYTES["submission"]
