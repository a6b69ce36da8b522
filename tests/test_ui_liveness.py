"""The UI proves it is alive from its UI thread (issue 17, finding 2): READY=1 once the attract screen is drawn,
WATCHDOG=1 and the liveness record's beats while the UI thread turns, probes answered by that thread. A UI
thread that blocks stops all three, which is what lets systemd restart a frozen UI (kiosk-ui.service:
WatchdogSec) and the update's gate refuse it. The daemon reports the UI in its heartbeat and raises
``ui_restarting`` when the UI keeps starting again.

A test NOTIFY_SOCKET (tests/test_watchdog.py's FakeSystemd) stands in for systemd.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.fleet import device_detail
from kiosk.liveness import UiLiveness
from sync.daemon.watchdog import Notifier
from sync.device import DeviceConfig
from sync.ota import liveness
from sync.outbox.store import Outbox
from tests.helpers import Central, start_daemon, wait_until
from tests.journey_kit import Kiosk, close_kiosk, open_kiosk
from tests.test_watchdog import FakeSystemd


@pytest.fixture
def ui(tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, hardware=True)
    yield k
    close_kiosk(k)


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(tmp_path / "notify.sock")
    yield fake
    fake.close()


class Arrivals:
    """Every datagram's arrival time and fields, collected on a thread of its own (the UI thread may block)."""

    def __init__(self, systemd: FakeSystemd) -> None:
        self.systemd = systemd
        self.seen: list[tuple[float, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.systemd.next(0.1)
            if message is not None:
                self.seen.append((time.monotonic(), message))

    def between(self, start: float, end: float, field: str) -> int:
        return sum(1 for t, m in self.seen if start <= t <= end and field in m)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def test_the_ui_thread_feeds_the_watchdog_and_answers_probes_only_while_it_turns(
        ui: Kiosk, qtbot: Any, tmp_path: Path, systemd: FakeSystemd) -> None:
    home = tmp_path / "home"
    home.mkdir()
    live = UiLiveness(home, ui.window, ui.vm, release="2.0.0", notifier=Notifier(str(systemd.path)), beat_s=0.5,
                      poll_s=0.2).start()
    arrivals = Arrivals(systemd)
    try:
        ui.window.show()
        qtbot.waitUntil(lambda: any("READY=1" in m for _t, m in arrivals.seen), timeout=15000)
        record = liveness.read_record(home)
        assert record is not None and record["release"] == "2.0.0" and record["attract_at"]
        # The drivers' self-test at start lands in the record (names and ok only).
        live.set_selftest([{"driver": "printer", "ok": True, "state": "ok", "details": {"x": 1}}])
        assert liveness.read_record(home)["selftest"] == {"printer": True}  # type: ignore[index]

        # While the UI thread turns: pings, fresh beats, and a probe answered.
        answered: list[bool] = []
        asker = threading.Thread(target=lambda: answered.append(liveness.probe(home, timeout_s=5)))
        asker.start()
        qtbot.waitUntil(lambda: bool(answered), timeout=8000)
        assert answered == [True]
        start = time.monotonic()
        qtbot.wait(1500)
        assert arrivals.between(start, time.monotonic(), "WATCHDOG=1") >= 3
        assert liveness.summary(home)["alive"] is True  # type: ignore[index]

        # The UI thread blocks (a hung slot): no ping, no beat, no answer until it turns again.
        answered.clear()
        asker = threading.Thread(target=lambda: answered.append(liveness.probe(home, timeout_s=2)))
        blocked_at = time.monotonic()
        asker.start()
        time.sleep(3.0)  # this test runs on the UI thread: this is the freeze
        blocked_until = time.monotonic()
        asker.join(5)
        assert answered == [False]
        qtbot.wait(100)  # let the queued ping of the moment it woke up arrive before counting
        assert arrivals.between(blocked_at + 0.3, blocked_until - 0.1, "WATCHDOG=1") == 0
        qtbot.waitUntil(lambda: arrivals.between(blocked_until, time.monotonic(), "WATCHDOG=1") >= 2, timeout=5000)
    finally:
        live.stop()
        arrivals.stop()


def test_the_heartbeat_carries_the_ui_and_repeated_restarts_raise_an_alarm(
        outbox: Outbox, device: DeviceConfig, kiosk_home: Path, central: Central) -> None:
    now = time.time()
    # Three starts within ten minutes, the last one beating now (the record kiosk/liveness.py keeps).
    liveness.write_record(kiosk_home, {"pid": os.getpid(), "release": "2.0.0", "started_at": now, "beat_at": now,
                                       "attract_at": now, "probe": None, "starts": [now - 400, now - 200, now],
                                       "selftest": None})
    daemon = start_daemon(outbox, device, heartbeat_interval_s=0.3)
    try:
        def telemetry() -> list[dict[str, Any]]:  # the central's view of the kiosk's last heartbeat
            return [(device_detail(central.store, device.device_id) or {}).get("telemetry") or {}]

        def alarms(kind: str) -> list[dict[str, Any]]:
            return [e["meta"] for e in central.store.events(kind) if e["device_id"] == device.device_id]

        wait_until(lambda: any((t.get("ui") or {}).get("release") == "2.0.0" for t in telemetry()), timeout=20,
                   what="the UI's liveness in a heartbeat")
        ui = next(t["ui"] for t in telemetry() if t.get("ui"))
        assert ui["alive"] is True and ui["attract"] is True and ui["starts_10min"] == 3
        wait_until(lambda: any(a.get("code") == "ui_restarting" for a in alarms("alarm")), timeout=20,
                   what="the ui_restarting alarm")
        [alarm] = [a for a in alarms("alarm") if a.get("code") == "ui_restarting"]  # raised once, not per beat
        assert alarm["severity"] == "critical" and "3 times" in alarm["detail"]
        # The UI settles (one start in the window) and stops beating: reported not alive, alarm cleared.
        liveness.write_record(kiosk_home, {"pid": os.getpid(), "release": "2.0.0", "started_at": now - 900,
                                           "beat_at": now - 120, "attract_at": now - 900, "probe": None,
                                           "starts": [now - 900], "selftest": None})
        wait_until(lambda: any(a.get("code") == "ui_restarting" for a in alarms("alarm_cleared")), timeout=20,
                   what="the alarm cleared")
        wait_until(lambda: any((t.get("ui") or {}).get("alive") is False for t in telemetry()), timeout=20,
                   what="a heartbeat saying the UI is not alive")
    finally:
        daemon.stop()
