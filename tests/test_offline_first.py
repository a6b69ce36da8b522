"""Offline first: with the broker down a submission is accepted and stays pending; when the broker
comes back it is delivered exactly once."""

from __future__ import annotations

from pathlib import Path

from central.keys import CentralKeys
from devtools.broker import MosquittoBroker
from sync.device import OUTBOX_FILE
from sync.outbox.store import Outbox
from tests.helpers import make_device, start_central, start_daemon, wait_until

FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": "王五"}]


def test_offline_submission_is_kept_then_delivered_once(tmp_path: Path, own_broker: MosquittoBroker,
                                                        central_keys: CentralKeys) -> None:
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys)
    home = tmp_path / "kiosk"
    device = make_device(home, own_broker.url, central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    own_broker.stop()
    daemon = start_daemon(outbox, device)
    try:
        receipt = outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        wait_until(lambda: daemon.connect_attempts >= 3, what="the daemon to try the dead broker")
        assert outbox.counts()["pending"] == 1
        assert not daemon.connected.is_set()
        assert central.store.count() == 0

        own_broker.start()
        wait_until(lambda: outbox.counts()["acked"] == 1, timeout=20, what="delivery after the broker returns")
        assert central.store.count() == 1
        [record] = central.store.list_masked()
        assert record["id"] == receipt.message_id

        # A second submission after recovery goes straight through, and nothing is stored twice.
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
        wait_until(lambda: outbox.counts()["acked"] == 2, what="the next delivery")
        assert central.store.count() == 2
    finally:
        daemon.stop()
        central.worker.stop()
        outbox.close()
        central.store.close()


def test_daemon_restart_resends_unacked_rows_without_duplicates(
        tmp_path: Path, own_broker: MosquittoBroker, central_keys: CentralKeys) -> None:
    """Rows left 'sent' by a daemon that died are sent again; the central stores each once."""
    home = tmp_path / "kiosk"
    device = make_device(home, own_broker.url, central_keys)
    outbox = Outbox(home / OUTBOX_FILE)
    for _ in range(5):
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    # First daemon publishes while no central listens: rows go to 'sent' and no ack comes.
    first = start_daemon(outbox, device)
    wait_until(lambda: outbox.counts()["sent"] == 5, what="rows marked sent")
    first.stop()
    central = start_central(own_broker.url, tmp_path / "central.db", central_keys)
    second = start_daemon(outbox, device)
    try:
        wait_until(lambda: outbox.counts()["acked"] == 5, what="all rows acked after restart")
        assert central.store.count() == 5
    finally:
        second.stop()
        central.worker.stop()
        outbox.close()
        central.store.close()
