"""The sync daemon's life cycle as a production kiosk has it (issue 16 findings 1-3): ``kiosk-syncd`` runs as its
own process (systemd), and enrolment, re-enrolment and factory reset hold and release it through the shared
database (kiosk.service_mode.sync_control.ExternalSync). A real daemon process, a real broker and central."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from central.enrolment import issue_token
from central.fleet import alarms_json
from central.keys import CentralKeys
from central.models import Device
from devtools.broker import MosquittoBroker
from devtools.processes import stop_process
from kiosk.cli import main as kiosk_main
from kiosk.service_mode.provisioning import provision
from kiosk.service_mode.sync_control import ExternalSync
from sync.daemon.service import HELD_STATE, HOLD_STATE
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from tests.helpers import Central, wait_until

TRUST_ALARMS = {"topic_mismatch", "bad_signature", "unsigned", "unknown_device"}


def _status(central: Central, device_id: str) -> str | None:
    with central.store.session() as s:
        row = s.get(Device, device_id)
        return row.status if row is not None else None


def _trust_alarms(central: Central, *device_ids: str) -> set[str]:
    return {a["code"] for a in alarms_json(central.store, open_only=False)
            if a["device_id"] in device_ids and a["code"] in TRUST_ALARMS}


def test_kiosk_syncd_is_held_through_reenrolment_and_stops_at_a_factory_reset(
        tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    home = tmp_path / "kiosk"
    home.mkdir()
    outbox = Outbox(home / OUTBOX_FILE)
    first = issue_token(central.store, central_keys, site="安定门街道", broker_url=broker.url)
    # First run: no daemon yet (systemd's path unit starts it once device.json exists).
    assert provision(home, first.token, timeout_s=20, sync=ExternalSync(), outbox=outbox).ok
    log = (tmp_path / "syncd.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sync.daemon.cli", "--home", str(home)],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: _status(central, first.device_id) == "online", 30, "the daemon online as the first id")

        # Re-enrolment: held (offline, disconnected), enrolled, released: the same process goes on as the new id.
        second = issue_token(central.store, central_keys, site="安定门街道", broker_url=broker.url)
        result = provision(home, second.token, timeout_s=20, sync=ExternalSync(), outbox=outbox)
        assert result.ok, result
        assert outbox.states().get(HOLD_STATE) == "" and outbox.states().get(HELD_STATE)
        wait_until(lambda: _status(central, second.device_id) == "online", 30, "the same daemon online as the new id")
        assert proc.poll() is None  # no restart
        wait_until(lambda: _status(central, first.device_id) == "retired", 10, "the first id retired")
        assert not _trust_alarms(central, first.device_id, second.device_id)

        # Factory reset from the laptop: the daemon lets go first, then the identity goes, and it stops for good.
        assert kiosk_main(["factory-reset", "--yes", "--home", str(home)]) == 0
        assert proc.wait(30) == 0
        wait_until(lambda: _status(central, second.device_id) == "offline", 20, "the wiped kiosk offline")
        assert not _trust_alarms(central, first.device_id, second.device_id)
        assert not (home / "device.json").exists()
    finally:
        stop_process(proc)
        log.close()
        outbox.close()


def test_a_daemon_started_during_an_enrolment_waits_for_its_release(
        tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys) -> None:
    """systemd's path unit starts kiosk-syncd the moment device.json appears, mid-enrolment: it must not connect
    (and fight the enrolment for the client id) until the enrolment lets it."""
    home = tmp_path / "kiosk"
    home.mkdir()
    outbox = Outbox(home / OUTBOX_FILE)
    issued = issue_token(central.store, central_keys, site="安定门街道", broker_url=broker.url)
    assert provision(home, issued.token, timeout_s=20, sync=ExternalSync(), outbox=outbox).ok
    control = ExternalSync()
    assert control.hold(outbox)  # as an enrolment in progress
    log = (tmp_path / "syncd.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sync.daemon.cli", "--home", str(home)],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: outbox.states().get(HELD_STATE) == control.token, 30, "the new daemon to say it is held")
        assert _status(central, issued.device_id) != "online" and outbox.states().get("connected") != "1"
        control.release(outbox, DeviceConfig.load(home))
        wait_until(lambda: _status(central, issued.device_id) == "online", 30, "online once released")
    finally:
        stop_process(proc)
        log.close()
        outbox.close()
