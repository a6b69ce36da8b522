"""Resend backoff (sync/daemon/resend.py) and the broker's queue bound.

The soak showed a fixed 60 s resend timeout multiplying load on a slow central (~8.7k resends for 3.3k
submissions). Each unacked row now waits a timeout doubling with its attempts (capped, jittered), and a
new central epoch still requeues every unacked row (see sync/daemon/resend.py for why).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from central.keys import CentralKeys
from devtools.broker import SHIPPED_CONFIG, MosquittoBroker
from sync.daemon.resend import ResendPolicy, requeue_due
from sync.device import OUTBOX_FILE
from sync.outbox.store import Outbox
from tests.helpers import make_device, start_central, start_daemon, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "吴九"}]
N = 20


def _attempts(outbox: Outbox) -> list[int]:
    with sqlite3.connect(outbox.path) as db:
        return [r[0] for r in db.execute("select attempts from outbox where kind = 'submission'")]


def _max_sends(policy: ResendPolicy, seconds: float) -> int:
    """The most sends one row can get in ``seconds`` under ``policy`` (every timeout at its shortest)."""
    sends, elapsed = 1, 0.0
    while True:
        elapsed += policy.steps()[min(sends, len(policy.steps())) - 1] * (1 - policy.jitter)
        if elapsed > seconds:
            return sends
        sends += 1


def test_timeouts_double_to_a_cap_with_bounded_jitter() -> None:
    policy = ResendPolicy(60.0, 600.0, 0.2)
    assert policy.steps() == [60.0, 120.0, 240.0, 480.0, 600.0]
    for seq in range(200):
        assert 48.0 - 1e-9 <= policy.timeout(1, seq) <= 72.0 + 1e-9
        assert 480.0 - 1e-9 <= policy.timeout(50, seq) <= 720.0 + 1e-9
    assert len({round(policy.timeout(1, seq), 6) for seq in range(97)}) == 97  # rows spread out
    for bad in ((0.0, 1.0, 0.1), (10.0, 5.0, 0.1), (1.0, 2.0, 1.0)):
        with pytest.raises(ValueError):
            ResendPolicy(*bad)


def test_requeue_due_follows_each_rows_attempts(tmp_path: Path, central_keys: CentralKeys) -> None:
    device = make_device(tmp_path / "k", "mqtt://127.0.0.1:1", central_keys)
    outbox = Outbox(tmp_path / "k" / OUTBOX_FILE)
    policy = ResendPolicy(10.0, 40.0, 0.0)
    try:
        first = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS).message_id
        third = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS).message_id
        for _ in range(3):
            outbox.record_delivery([third], [])
            outbox.mark_pending([third])
        outbox.record_delivery([first, third], [])  # `first` on its first send, `third` on its fourth
        t0 = time.time()
        assert requeue_due(outbox, policy, t0 + 9) == 0
        assert requeue_due(outbox, policy, t0 + 11) == 1  # the first send times out after 10 s
        assert outbox.find(first).state == "pending"  # type: ignore[union-attr]
        assert requeue_due(outbox, policy, t0 + 39) == 0  # the fourth send waits the cap (10, 20, 40, 40)
        assert requeue_due(outbox, policy, t0 + 41) == 1
        assert outbox.find(third).state == "pending"  # type: ignore[union-attr]
        assert outbox.counts_by_kind()["submission"]["sent"] == 0
    finally:
        outbox.close()


@pytest.mark.slow
def test_a_stopped_then_restarted_central_gets_few_resends_and_loses_nothing(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys) -> None:
    device = make_device(tmp_path / "kiosk", own_broker.url, central_keys)
    outbox = Outbox(tmp_path / "kiosk" / OUTBOX_FILE)
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id="one")
    daemon = start_daemon(outbox, device, resend_after_s=0.5)
    daemon.housekeeping_s = 0.1  # check for due rows often, so only the policy limits resends
    policy = daemon.resend_policy
    central2 = None
    try:
        wait_until(daemon.connected.is_set, 10, "kiosk connected")
        central.worker.stop()  # the central is down: everything published now is dropped by the broker
        central.store.close()
        down = time.monotonic()
        for _ in range(N):
            outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        # Every row has been resent four times into the void: with a fixed 0.5 s timeout that takes ~2.5 s,
        # with the doubling one at least 0.4 + 0.8 + 1.6 + 3.2 s.
        wait_until(lambda: min(_attempts(outbox)) >= 5, 30, "every row sent five times")
        central2 = start_central(own_broker.url, tmp_path / "central.db", central_keys, worker_id="two")
        wait_until(lambda: outbox.counts_by_kind()["submission"]["acked"] == N, 30, "every submission acked")
        elapsed = time.monotonic() - down
        attempts = _attempts(outbox)
        # + the new epoch's requeue of everything unacked, + one timeout resend racing it
        bound = _max_sends(policy, elapsed) + 2
        fixed = int(elapsed / policy.base_s)  # what a fixed timeout would have sent in the same time
        print(f"central down then back after {elapsed:.1f} s: max {max(attempts)} sends per row "
              f"(bound {bound}; a fixed {policy.base_s} s timeout: ~{fixed}), {sum(attempts) - N} resends in all")
        assert elapsed >= 0.4 + 0.8 + 1.6 + 3.2
        assert max(attempts) <= bound < fixed
        assert central2.store.count() == N and central2.store.duplicates() == 0
        assert outbox.counts_by_kind()["submission"] == {"pending": 0, "sent": 0, "acked": N, "rejected": 0}
    finally:
        daemon.stop()
        if central2 is not None:
            central2.worker.stop()
            central2.store.close()
        outbox.close()


def test_the_broker_bounds_its_queues_in_bytes_too(own_broker: MosquittoBroker) -> None:
    shipped = (SHIPPED_CONFIG / "mosquitto.conf").read_text().splitlines()
    generated = (own_broker.folder / "mosquitto.conf").read_text().splitlines()
    for lines in (shipped, generated):
        assert "max_queued_messages 100000" in lines and "max_queued_bytes 268435456" in lines
    assert own_broker.proc is not None and own_broker.proc.poll() is None  # mosquitto accepted the option
