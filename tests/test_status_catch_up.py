"""A kiosk that was offline when an application's status was pushed gets it when it comes back: its retained
status goes online with a new connection counter and the central re-sends the site's recent statuses to it
(real broker, real central, real sync daemon and command executor)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.keys import CentralKeys
from central.status_push import catch_up, set_status
from devtools.broker import MosquittoBroker
from sync.daemon.commands import CommandExecutor
from sync.daemon.service import SyncDaemon
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.helpers import Central, start_daemon, wait_until
from tests.test_status_push import ID_A, _kiosk_rows, _receipt


@pytest.fixture
def broker() -> Iterator[MosquittoBroker]:
    """A broker of this test's own: other tests' retained statuses would register their kiosks here."""
    with MosquittoBroker() as b:
        yield b


@pytest.mark.slow
def test_kiosk_back_online_gets_the_statuses_it_missed(broker: MosquittoBroker, central: Central,
                                                       central_keys: CentralKeys, device: DeviceConfig,
                                                       outbox: Outbox, kiosk_home: Path) -> None:
    def online() -> SyncDaemon:
        return start_daemon(outbox, device, command_handler=CommandExecutor(outbox, device, kiosk_home).handle)

    daemon = online()
    receipt = _receipt(outbox, device, ID_A)
    wait_until(lambda: central.store.count() == 1 and (central.store.device(device.device_id) or {}).get("site")
               == device.site, 15, "the submission and the kiosk's site at the central")
    sent_before = central.worker.catch_up_commands
    daemon.stop()
    wait_until(lambda: (central.store.device(device.device_id) or {}).get("status") == "offline", 15,
               "the kiosk offline at the central")
    # Pushed while the kiosk is away: its clean session drops it.
    result = set_status(central.store, central_keys, receipt, "已办结", actor="back-office", broker_url=broker.url)
    assert result.devices == [device.device_id] and result.push_error is None
    assert receipt not in _kiosk_rows(outbox)

    daemon = online()
    try:
        wait_until(lambda: receipt in _kiosk_rows(outbox), 20, "the missed status at the kiosk after reconnecting")
        assert _kiosk_rows(outbox)[receipt]["status"] == "completed"
        assert central.worker.catch_up_commands > sent_before
    finally:
        daemon.stop()


def test_catch_up_window_and_sites(central: Central, central_keys: CentralKeys, device: DeviceConfig,
                                   outbox: Outbox) -> None:
    """Only the site's statuses set since shortly before the kiosk was last heard from (all of the last 90 days
    for a kiosk never heard from); nothing for a kiosk without a site."""
    daemon = start_daemon(outbox, device)
    try:
        receipt = _receipt(outbox, device, ID_A)
        wait_until(lambda: central.store.count() == 1 and bool((central.store.device(device.device_id) or {})
                                                               .get("site")), 15, "the submission at the central")
    finally:
        daemon.stop()
    set_status(central.store, central_keys, receipt, "processing", actor="t", broker_url=None, now=1_000_000.0)
    now = 1_000_000.0 + 10 * 86400
    assert len(catch_up(central.store, central_keys, device.site, last_seen=0, now=now)) == 1
    assert len(catch_up(central.store, central_keys, device.site, last_seen=1_000_000.0 + 1800, now=now)) == 1
    assert catch_up(central.store, central_keys, device.site, last_seen=1_000_000.0 + 7200, now=now) == []
    assert catch_up(central.store, central_keys, "另一街道", last_seen=0, now=now) == []
    assert catch_up(central.store, central_keys, "", last_seen=0, now=now) == []
