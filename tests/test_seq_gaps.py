"""Sequence tracking at the central: a gap that outlives its timeout raises ``seq_gap`` and asks the kiosk
to send again; what it sends fills the gap and clears the alarm; numbers the kiosk no longer has close
the gap as ``seq_lost``; a replayed id is acked and not stored again; the same id with other content,
or a new id with a used number, is alarmed."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central import fleet, sequences
from central.keys import CentralKeys
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.models import State
from sync.outbox.store import Outbox, open_outbox
from sync.protocol import seqranges
from sync.protocol.envelope import Envelope
from tests.helpers import Central, Wire, device_signer, start_central, start_daemon, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "郑十"}]
GAP_TIMEOUT_S = 0.5


@pytest.fixture
def fast_central(tmp_path: Path, broker: MosquittoBroker, central_keys: CentralKeys) -> Iterator[Central]:
    """A central that asks for a gap after half a second (600 s by default)."""
    c = start_central(broker.url, tmp_path / "central.db", central_keys, worker_id=uuid.uuid4().hex[:6],
                      gap_timeout_s=GAP_TIMEOUT_S, gap_check_s=0.1)
    yield c
    c.worker.stop()
    c.store.close()


def _alarms(central: Central, device_id: str, code: str, open_only: bool = True) -> list[dict[str, Any]]:
    return [a for a in fleet.alarms_list(central.store, open_only=open_only, device_id=device_id) if a["code"] == code]


def _seq_state(central: Central, device_id: str) -> dict[str, Any]:
    with central.store.session() as s:
        return sequences.state(s, device_id) or {}


def test_gap_alarm_then_resend_fills_it_and_clears_the_alarm(fast_central: Central, outbox: Outbox,
                                                            device: DeviceConfig) -> None:
    """Number 2 was refused by an ack the central never sent (forged, or from a lost database): the kiosk
    keeps it and would never send it again. The central sees 1 and 3, waits out the timeout, alarms, asks;
    the kiosk sends 2 again; the gap closes and the alarm clears."""
    a, b, c = (outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS) for _ in range(3))
    assert (a.seq, b.seq, c.seq) == (1, 2, 3)
    outbox.mark_rejected(b.message_id, "a rejection the central never sent")
    daemon = start_daemon(outbox, device)
    try:
        wait_until(lambda: _alarms(fast_central, device.device_id, "seq_gap", open_only=False), timeout=15,
                   what="the seq_gap alarm")
        wait_until(lambda: fast_central.store.count() == 3, timeout=15, what="the missing submission resent")
        wait_until(lambda: not _alarms(fast_central, device.device_id, "seq_gap"), what="the alarm cleared")
        wait_until(lambda: outbox.counts()["acked"] == 4, what="the resend answer acked too")
    finally:
        daemon.stop()
    [alarm] = _alarms(fast_central, device.device_id, "seq_gap", open_only=False)
    assert alarm["cleared_by"] == "central" and "1 message(s) missing after number 1" in alarm["detail"]
    state = _seq_state(fast_central, device.device_id)
    assert state["contiguous"] == 4 and state["missing"] == [] and state["lost"] == 0  # 4: the resend answer
    [answer] = fast_central.store.events("resend_result")
    assert answer["meta"]["resent"] == [[2, 2]] and answer["meta"]["gone"] == []
    assert fast_central.worker.resend_requests >= 1


def test_numbers_lost_with_a_quarantined_database_close_as_seq_lost(fast_central: Central, kiosk_home: Path,
                                                                    device: DeviceConfig) -> None:
    outbox = Outbox(kiosk_home / OUTBOX_FILE)
    for _ in range(2):
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    daemon = start_daemon(outbox, device)
    wait_until(lambda: outbox.counts()["acked"] == 2, what="the first two delivered")
    daemon.stop()
    outbox.close()
    path = kiosk_home / OUTBOX_FILE
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.write_bytes(os.urandom(path.stat().st_size))  # the disk ate it: numbers continue 1,000 higher
    fresh = open_outbox(kiosk_home, device)
    try:
        r = fresh.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        assert r.seq > 1000
        daemon = start_daemon(fresh, device)
        try:
            wait_until(lambda: _alarms(fast_central, device.device_id, "seq_lost"), timeout=15,
                       what="the seq_lost alarm")
            wait_until(lambda: not _alarms(fast_central, device.device_id, "seq_gap"), what="the gap closed")
        finally:
            daemon.stop()
    finally:
        fresh.close()
    state = _seq_state(fast_central, device.device_id)
    assert state["missing"] == [] and state["lost"] == r.seq - 2 - 2  # all but 1, 2, the alarm and r
    assert fast_central.store.count() == 3


def test_replayed_old_id_is_acked_and_not_stored_again(central: Central, outbox: Outbox, device: DeviceConfig,
                                                      broker: MosquittoBroker, kiosk_home: Path) -> None:
    outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    [msg] = outbox.pending_batch(10)
    wire = Wire(broker, device.device_id)
    try:
        wire.publish(device.device_id, "submission", msg.body)
        wait_until(lambda: any(msg.id in a.ids for a in wire.acks), what="the first ack")
        for n in (2, 3):
            wire.publish(device.device_id, "submission", msg.body)  # a replay: same bytes
            wait_until(lambda n=n: sum(msg.id in a.ids for a in wire.acks) == n,  # type: ignore[misc]
                       what="the replay acked again")
        assert central.store.count() == 1 and central.store.duplicates() == 0
        assert fleet.alarms_list(central.store, device_id=device.device_id) == []

        # The same id with other content, even signed by the kiosk's own key: refused and alarmed.
        env = Envelope.from_bytes(msg.body)
        other = device_signer(kiosk_home).sign(dataclasses.replace(env, meta={**env.meta, "receipt_no": "R-OTHER"}))
        wire.publish(device.device_id, "submission", other.to_bytes())
        wait_until(lambda: any(r[0] == msg.id for a in wire.acks for r in a.rejected), what="the refusal")
        assert _alarms(central, device.device_id, "id_reused")
        [row] = central.store.list_masked()
        assert row["receipt_no"] == env.meta["receipt_no"]  # the stored one is untouched

        # A new id with a number already used: stored (it is the kiosk's signature) and alarmed.
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        second = Envelope.from_bytes(outbox.pending_batch(10)[-1].body)
        reused = device_signer(kiosk_home).sign(dataclasses.replace(second, seq=env.seq))
        wire.publish(device.device_id, "submission", reused.to_bytes())
        wait_until(lambda: _alarms(central, device.device_id, "seq_reused"), what="the seq_reused alarm")
        assert central.store.count() == 2
    finally:
        wire.close()


# -- the parts -------------------------------------------------------------------------------------------


def test_the_kiosk_answers_a_resend_request_from_its_outbox(kiosk_home: Path, outbox: Outbox,
                                                            device: DeviceConfig) -> None:
    receipts = [outbox.enqueue_submission(device, "X", FIELDS) for _ in range(4)]
    ids = [r.message_id for r in receipts]
    outbox.record_delivery(ids, [ids[0]])  # 1 acked; 2, 3, 4 sent
    answer = outbox.answer_resend(device, [(1, 3), (7, 9)])
    assert answer == {"requested": [[1, 3], [7, 9]], "resent": [[2, 3]], "acked": [[1, 1]], "gone": [[7, 9]],
                      "truncated": False}
    states = {m.id: m.state for m in map(outbox.find, ids) if m is not None}
    assert [states[i] for i in ids] == [State.ACKED, State.PENDING, State.PENDING, State.SENT]
    events = [Envelope.from_bytes(m.body) for m in outbox.pending_batch(10) if m.kind == "event"]
    assert [e.meta["type"] for e in events] == ["resend_result"] and events[0].sig


def test_ranges() -> None:
    assert seqranges.compress([5, 1, 2, 3, 9, 9]) == [(1, 3), (5, 5), (9, 9)]
    assert seqranges.absorb(0, [(2, 4), (1, 1), (7, 8)]) == (4, [(7, 8)])
    assert seqranges.missing(4, [(7, 8), (10, 10)]) == [(5, 6), (9, 9)]
    assert seqranges.missing(4, []) == []
