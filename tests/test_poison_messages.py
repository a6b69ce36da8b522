"""No message stops the central (issue 13, item 4).

Three payloads stopped ``kiosk-central serve`` with exit 1: an envelope whose ``created_at`` is a 400-digit
integer, an ``up/status`` with ``"conn": Infinity`` and one with ``"conn"`` a 30-digit string. They are
sent here to a real ``kiosk-central serve`` process through a real broker (the statuses retained, as a kiosk's
are, so a central that died on them would die again on every restart); after each, the process is alive and
stores a real submission. A handler that fails for any other reason refuses that one message, counts it and
raises a rate-limited alarm, and ingest goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from central import fleet
from central.ingest import IngestWorker
from central.keys import CentralKeys
from central.messages import Incoming
from central.store import Acks, CentralStore
from devtools.broker import MosquittoBroker
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.protocol.envelope import Envelope
from sync.protocol.signing import VerifyKey
from sync.runtime.backoff import Backoff
from tests.helpers import TEST_KEYRING, TestKeyring, TrackedStore, Wire, make_device, serve_home, track, wait_until

CENTRAL_CLI = str(Path(sys.executable).with_name("kiosk-central"))


def _real_submissions(home: Path, device: DeviceConfig, n: int) -> list[Envelope]:
    outbox = Outbox(home / "outbox.db")
    try:
        receipts = [outbox.enqueue_submission(device, "MZ-LNYD-001", []) for _ in range(n)]
        rows = [outbox.find(r.message_id) for r in receipts]
    finally:
        outbox.close()
    return [Envelope.from_bytes(r.body) for r in rows if r is not None and r.body]


def _with_raw(envelope: bytes, name: str, raw: bytes) -> bytes:
    obj: dict[str, Any] = {**json.loads(envelope), name: "@@"}
    return json.dumps(obj).encode().replace(b'"@@"', raw)


def poison_payloads(signed_envelope: bytes) -> list[tuple[str, bytes, bool]]:
    """(up/ kind, payload, retained): the three payloads that stopped ``kiosk-central serve``."""
    return [
        ("submission", _with_raw(signed_envelope, "created_at", b"9" * 400), False),
        ("status", b'{"state":"online","conn":Infinity}', True),
        ("status", b'{"state":"online","conn":"' + b"1" * 30 + b'"}', True),
    ]


def _deliver(wire: Wire, device_id: str, env: Envelope, what: str, timeout: float = 30.0) -> None:
    """Publish a real submission until the central acks it (it may not have subscribed yet)."""

    def acked() -> bool:
        return env.id in {i for a in wire.acks for i in a.ids}

    def sent_and_acked() -> bool:
        wire.publish(device_id, "submission", env.to_bytes())
        try:
            wait_until(acked, 1.0, "the ack")
        except AssertionError:
            return False
        return True

    wait_until(sent_and_acked, timeout, what)


@pytest.mark.slow
def test_serve_process_survives_the_three_payloads(broker: MosquittoBroker, tmp_path: Path,
                                                    central_keys: CentralKeys) -> None:
    home, db, device = serve_home(tmp_path, broker.url, central_keys)
    real = _real_submissions(tmp_path / "kiosk", device, 4)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen([CENTRAL_CLI, "serve", "--broker", broker.url, "--home", str(home), "--db", db],
                                  stdout=log_file, stderr=subprocess.STDOUT)
    wire = Wire(broker, device.device_id)
    status_topic = topics.up(device.device_id, "status")
    try:
        _deliver(wire, device.device_id, real[0], "a first submission stored by kiosk-central serve")
        for (kind, payload, retain), env in zip(poison_payloads(real[0].to_bytes()), real[1:], strict=True):
            info = wire.client.publish(topics.up(device.device_id, kind), payload, qos=1, retain=retain)
            info.wait_for_publish(5)
            _deliver(wire, device.device_id, env, f"a submission stored after the {kind} payload")
            assert server.poll() is None, f"kiosk-central serve exited: {log_path.read_text(errors='replace')}"
        store = CentralStore(db)
        try:
            assert store.count() == 4
            state = store.device(device.device_id)
            assert state is not None and state["conn"] < 2**63  # the poisoned counters were never stored
        finally:
            store.close()
    finally:
        wire.client.publish(status_topic, b"", qos=1, retain=True).wait_for_publish(5)  # clear the retained poison
        wire.close()
        server.terminate()
        server.wait(20)


# -- a handler that fails: that message is refused, counted and alarmed; ingest goes on -----------------------


class _KeysFailingFor(TestKeyring):
    """The test devices' keys, except that looking up ``bad`` fails as a bug in a handler would."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def get(self, device_id: str, *, fresh: bool = False) -> VerifyKey | None:
        if device_id == self.bad:
            raise RuntimeError("a bug in a handler")
        return super().get(device_id, fresh=fresh)


class _StoreFailingFor(TrackedStore):
    """A real store whose commit fails with a driver error for ``bad``'s status, as "int too large for SQLite
    INTEGER" did (an OverflowError, not an SQLAlchemyError)."""

    bad = ""

    def apply(self, items: Sequence[Incoming], *, seen: bool = True) -> Acks:
        if any(i.device_id == self.bad and i.topic.kind == "status" for i in items):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return super().apply(items, seen=seen)


@pytest.mark.parametrize("where", ["parse", "store"])
def test_a_failing_handler_refuses_that_message_counts_it_alarms_once_and_ingest_goes_on(
        broker: MosquittoBroker, tmp_path: Path, central_keys: CentralKeys, where: str) -> None:
    good = make_device(tmp_path / "good", broker.url, central_keys)
    bad = make_device(tmp_path / "bad", broker.url, central_keys)
    store = track(_StoreFailingFor(f"sqlite:///{tmp_path / 'central.db'}"))
    assert isinstance(store, _StoreFailingFor)
    store.bad = bad.device_id
    keys = _KeysFailingFor(bad.device_id) if where == "parse" else TEST_KEYRING
    worker = IngestWorker(broker.url, store, central_keys, worker_id=uuid.uuid4().hex[:6], device_keys=keys,
                          backoff=Backoff(0.05, 0.5)).start()
    wire = Wire(broker, good.device_id)
    try:
        wait_until(worker.connected.is_set, what="central connected")
        real = _real_submissions(tmp_path / "good", good, 3)
        failing = (_real_submissions(tmp_path / "bad", bad, 1)[0].to_bytes() if where == "parse"
                   else b'{"state":"online","conn":5}')
        kind = "submission" if where == "parse" else "status"
        for env in real:
            wire.publish(bad.device_id, kind, failing)
            _deliver(wire, good.device_id, env, "a good kiosk's submission stored after the failing message")
        wait_until(lambda: worker.failed_total >= 3, what="three failed messages counted")
        assert worker.is_alive()
        alarms = [a for a in fleet.alarms_list(store, device_id=bad.device_id) if a["code"] == "message_failed"]
        assert len(alarms) == 1, alarms  # rate-limited: one alarm, not one per message
        assert store.count() == 3
    finally:
        wire.close()
        worker.stop()
        store.close()
