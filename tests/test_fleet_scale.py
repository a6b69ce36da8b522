"""Fifty kiosk-sim kiosks against one central through the real broker: they show online in
``kiosk-central fleet --json`` and in the dashboard in a real browser; then some die.

Two ways of dying: a killed daemon (the broker publishes its Will at once: offline now) and a pulled cable
(the TCP connection goes silent and the broker notices nothing for 1.5 x keepalive). The silent ones must
turn ``late`` after 1.5 heartbeat intervals and ``offline`` after a further 3 intervals, as the fleet
registry promises; a freezable TCP proxy between those kiosks and the broker pulls their cable.
"""

from __future__ import annotations

import base64
import contextlib
import json
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central import fleet
from central.keys import CentralKeys
from central.models import DeviceKey
from central.web.server import DashboardServer, serve
from devtools.broker import MosquittoBroker
from devtools.sim import SimFleet
from sync.protocol.broker_url import parse_broker_url
from sync.protocol.signing import DeviceSigner
from tests.helpers import Central, wait_until
from tests.test_dashboard import _add_operators, _browser_login, _row_state, _wait, browser  # noqa: F401

CENTRAL_CLI = str(Path(sys.executable).with_name("kiosk-central"))
HEARTBEAT_S = 2.0
LATE_AFTER_S = 1.5 * HEARTBEAT_S  # Thresholds.late_factor
OFFLINE_AFTER_S = LATE_AFTER_S + 3.0 * HEARTBEAT_S  # + Thresholds.grace_factor


class FreezableProxy:
    """A TCP relay to the broker; ``freeze()`` stops moving bytes but keeps every connection open."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def freeze(self) -> None:
        self.frozen.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._closed.is_set():
            if self.frozen.is_set():
                self._closed.wait(0.2)  # the cable is out: nothing moves, nothing is closed
                continue
            try:
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    peers[s].sendall(data)
            except (OSError, ValueError):
                break
        for s in (a, b):
            s.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def dashboard(tmp_path: Path, broker: MosquittoBroker, central: Central,
              central_keys: CentralKeys) -> Iterator[DashboardServer]:
    central_keys.save(tmp_path / "central-home")
    _add_operators(central.store)
    dash = serve(central.store, "127.0.0.1", 0, keys_home=tmp_path / "central-home", broker_url=broker.url,
                 session_secret=uuid.uuid4().hex * 2, evaluate_every_s=None, sse_poll_s=0.25)
    yield dash
    dash.stop()


def _enrol_sims(store: Any, root: Path, id_prefix: str, n: int) -> None:
    """Give each sim kiosk (device ids are ``{prefix}-0001``...) its device key before it starts, as
    provisioning does, and register the public halves at the central (which refuses unknown kiosks)."""
    rows = []
    for i in range(1, n + 1):
        device_id = f"{id_prefix}-{i:04d}"
        signer = DeviceSigner.generate()
        signer.save(root / device_id)
        rows.append(DeviceKey(device_id=device_id, public_key=base64.b64encode(signer.public_raw).decode(),
                              enrolled_at=time.time(), token_id="test"))
    with store.session() as s, s.begin():
        s.add_all(rows)


def _cli_fleet(db: str, prefix: str) -> dict[str, dict[str, Any]]:
    out = subprocess.run([CENTRAL_CLI, "fleet", "--json", "--no-evaluate", "--db", db],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return {r["device_id"]: r for r in json.loads(out.stdout) if r["device_id"].startswith(prefix)}


def _states(central: Central, prefix: str) -> dict[str, str]:
    return {r["device_id"]: r["state"] for r in fleet.fleet_list(central.store) if r["device_id"].startswith(prefix)}


@pytest.mark.slow
def test_fifty_kiosks_online_then_killed_and_silent_ones_late_then_offline(
        tmp_path: Path, broker: MosquittoBroker, central: Central, central_keys: CentralKeys,
        dashboard: DashboardServer, browser: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    prefix = f"f{uuid.uuid4().hex[:5]}"
    seal = base64.b64encode(central_keys.seal.public_raw).decode()
    proxy = FreezableProxy(parse_broker_url(broker.url))
    direct = SimFleet(broker.url, 45, seal_key=seal, id_prefix=f"{prefix}a", heartbeat_s=HEARTBEAT_S,
                      home=tmp_path / "sims-a", seed=1)
    cabled = SimFleet(proxy.url, 5, seal_key=seal, id_prefix=f"{prefix}b", heartbeat_s=HEARTBEAT_S,
                      keepalive_s=120, home=tmp_path / "sims-b", seed=2)
    _enrol_sims(central.store, tmp_path / "sims-a", f"{prefix}a", 45)
    _enrol_sims(central.store, tmp_path / "sims-b", f"{prefix}b", 5)
    try:
        direct.start()
        cabled.start()
        wait_until(lambda: list(_states(central, prefix).values()).count("online") == 50, 60, "50 kiosks online")
        db = f"sqlite:///{tmp_path / 'central.db'}"
        # As on the page below: on a loaded machine one 2 s heartbeat can be briefly late when the CLI looks.
        listed: dict[str, dict[str, Any]] = {}

        def all_online_in_cli() -> bool:
            listed.clear()
            listed.update(_cli_fleet(db, prefix))
            return len(listed) == 50 and {r["state"] for r in listed.values()} == {"online"}

        wait_until(all_online_in_cli, 30, "the CLI listing fifty kiosks online")
        assert all(r["site"] and r["heartbeat_interval_s"] == HEARTBEAT_S for r in listed.values())
        _browser_login(browser, dashboard.url, "li")
        _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="the fleet page")

        def shown() -> list[list[str]]:
            return list(browser.execute_script(
                "return Array.from(document.querySelectorAll('tr[data-device^=\"' + arguments[0] + '\"]'))"
                ".map(r => [r.dataset.device, r.dataset.state]);", prefix))

        # The page follows the fleet live: under a loaded CI machine one 2 s heartbeat can be briefly late
        # (late at 3 s), so wait for the page to show all fifty online rather than test one instant.
        _wait(browser, lambda _d: len(rows := shown()) == 50 and {s for _, s in rows} == {"online"}, timeout=20,
              what="the fifty kiosks online on the fleet page")

        # Two killed (the Will: offline at once); five lose their cable (silent: late, then offline).
        killed = [direct.device_id(0), direct.device_id(1)]
        silent = [cabled.device_id(i) for i in range(5)]
        direct.kill(0)
        direct.kill(1)
        proxy.freeze()
        frozen_at = time.time()
        # Each change of state is bracketed by the silence (now - last_seen) at the poll before it and at the
        # poll that saw it: the threshold must lie between the two. Polls slowed by a loaded machine (fifty
        # kiosks run in this process) widen the bracket but cannot make a correct threshold fail.
        changes: dict[str, dict[str, tuple[float, float]]] = {d: {} for d in silent}
        seen: dict[str, tuple[str, float]] = {}
        deadline = time.monotonic() + OFFLINE_AFTER_S + 15
        while time.monotonic() < deadline and not all("offline" in v for v in changes.values()):
            now = time.time()
            rows = {r["device_id"]: r for r in fleet.fleet_list(central.store, now)}
            for d in silent:
                state, silence = rows[d]["state"], now - float(rows[d]["last_seen"])
                before = seen.get(d)
                if state == "online":
                    # A heartbeat sent just before the cable was cut can reach a loaded central seconds late (CI
                    # once saw late at 3.4 s, then online, then late and offline): the silence starts again, and
                    # so does the bracket.
                    changes[d] = {}
                elif before is not None and before[0] != state and state not in changes[d]:
                    changes[d][state] = (before[1], silence)
                seen[d] = (state, silence)
            time.sleep(0.1)
        for d in silent:
            assert set(changes[d]) == {"late", "offline"}, (d, changes[d])  # online -> late -> offline
            assert changes[d]["late"][0] < LATE_AFTER_S + 0.25 and changes[d]["late"][1] >= LATE_AFTER_S, \
                (d, changes[d])
            assert changes[d]["offline"][0] < OFFLINE_AFTER_S + 0.25 \
                and changes[d]["offline"][1] >= OFFLINE_AFTER_S, (d, changes[d])
        listed = _cli_fleet(db, prefix)
        assert {d: listed[d]["state"] for d in killed + silent} == dict.fromkeys(killed + silent, "offline")
        # Nothing else went offline. (With 2 s heartbeats and fifty kiosks in this process, a loaded machine can
        # make another kiosk's heartbeat a second late for a moment: "late" is tolerated, "offline" is not.)
        assert {d for d, r in listed.items() if r["state"] == "offline"} == set(killed + silent)
        # The open page followed without a reload.
        _wait(browser, lambda d: all(_row_state(d, x) == "offline" for x in killed + silent), 20,
              "the dashboard showing them offline")
        others = [direct.device_id(i) for i in range(2, 45)]
        assert not [x for x in others if _row_state(browser, x) == "offline"]
        _wait(browser, lambda d: all(_row_state(d, x) == "online" for x in others), 20, "the other kiosks online")
        assert time.time() - frozen_at < OFFLINE_AFTER_S + 30
    finally:
        proxy.close()
        cabled.close()
        direct.close()
