"""The update's health gate covers the whole kiosk (issue 17, finding 1).

End to end: a kiosk runs release 1.0.0 with its real touchscreen UI (``kiosk run``, Qt offscreen, started from
``current/kiosk-ui`` by a stand-in for ``kiosk-ui.service``: restarted when it exits or when ``current``
moves). The central sends 2.0.0, a release whose app QML is missing — its UI fails with "Main.qml failed to
load", while its daemon connects and its health script passes. Before, that came back "ok". Now the gate waits
for 2.0.0's UI to show the attract screen and answer a liveness probe, it never does, and the release is
rolled back; then a good 3.0.0 passes the same gate.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.keys import CentralKeys
from central.web.server import DashboardServer
from sync.ota import liveness
from sync.ota.health import HEALTH_MARK, drivers_worse, kiosk_gate
from sync.ota.install import unpack_release
from sync.ota.switch import Releases
from tests import test_ota
from tests.helpers import Central, wait_until
from tests.test_ota import OLD, Kiosk, _send, pin_release_key, signed_update

central_home, http = test_ota.central_home, test_ota.http  # the same fixtures as the OTA tests

REPO = Path(__file__).resolve().parents[1]

UI_LAUNCHER = """#!/bin/sh
# kiosk-ui.service's ExecStart for this release (as kiosk-session does: the release is named from the path).
release=$(dirname "$(readlink -f "$0")")
export KIOSK_RELEASE_DIR="$release"
cd "$release"
export PYTHONPATH="$release/lib${PYTHONPATH:+:$PYTHONPATH}"
exec %(python)s -c 'import sys; from kiosk.cli import main; sys.exit(main())' run --home "$KIOSK_HOME"
"""


def ui_release(path: Path, version: str, *, qml: bool = True) -> Path:
    """A release with the real UI launcher; ``qml=False`` ships the app's code without its QML (the finding's
    bundle). Its health script passes either way: only the kiosk-wide gate can tell."""
    files = {"VERSION": f"{version}\n".encode(), "health": b"#!/bin/sh\nexit 0\n",
             "kiosk-ui": (UI_LAUNCHER % {"python": sys.executable}).encode()}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        if not qml:
            def strip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
                parts = Path(info.name).parts
                return None if "__pycache__" in parts or "qml" in parts else info
            tar.add(REPO / "kiosk", arcname="lib/kiosk", filter=strip)
    return path


class UiService:
    """Plays kiosk-ui.service with Restart=always plus kiosk-release.path: runs ``current/kiosk-ui``, starts it
    again when it exits, and restarts it when ``current`` is switched."""

    def __init__(self, releases: Releases, home: Path, log: Path) -> None:
        self.releases, self.home, self.log = releases, home, log
        self.starts: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ui-service", daemon=True)

    def start(self) -> UiService:
        self._thread.start()
        return self

    def _run(self) -> None:
        proc: subprocess.Popen[bytes] | None = None
        running = None
        # No speech daemon, as on a kiosk without one (a hung one here would hold the UI's start for minutes).
        env = {**os.environ, "KIOSK_HOME": str(self.home), "QT_QPA_PLATFORM": "offscreen",
               "SPEECHD_ADDRESS": f"unix_socket:{self.home}/no-speechd"}
        try:
            while not self._stop.is_set():
                current = self.releases.current_version()
                if proc is not None and (proc.poll() is not None or current != running):
                    if proc.poll() is None:
                        proc.terminate()
                        proc.wait(15)
                    proc = None
                    self._stop.wait(0.5)  # RestartSec
                if proc is None and current:
                    running = current
                    self.starts.append(current)
                    with self.log.open("ab") as out:
                        out.write(f"[ui-service] starting {current}\n".encode())
                        out.flush()
                        proc = subprocess.Popen([str(self.releases.root / "current" / "kiosk-ui")], env=env,
                                                stdout=out, stderr=subprocess.STDOUT)
                self._stop.wait(0.2)
        finally:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def _ui_up(home: Path, version: str, since: float = 0.0) -> bool:
    record = liveness.read_record(home) or {}
    return (record.get("release") == version and bool(record.get("attract_at"))
            and float(record.get("started_at") or 0) >= since)


@pytest.fixture
def ui_kiosk(outbox, device, kiosk_home: Path, tmp_path: Path, central: Central) -> Iterator[Kiosk]:
    root = tmp_path / "opt-street-kiosk"
    unpack_release(ui_release(tmp_path / "old.tar.gz", OLD), root / "releases", OLD)
    Releases(root).switch_to(OLD)
    pin_release_key(kiosk_home)
    ui = UiService(Releases(root), kiosk_home, tmp_path / "ui.log").start()
    k = Kiosk(outbox, device, kiosk_home, root, central)
    k.ui = ui  # type: ignore[attr-defined]
    try:
        wait_until(lambda: _ui_up(kiosk_home, OLD), timeout=90, what="1.0.0's UI showing the attract screen")
        yield k
    finally:
        k.shutdown()
        ui.stop()
        shutil.copy(tmp_path / "ui.log", tmp_path / "ui.log.kept")


@pytest.mark.timeout(400)
def test_a_release_whose_ui_cannot_start_is_rolled_back(ui_kiosk: Kiosk, tmp_path: Path, central_home: Path,
                                                        central_keys: CentralKeys, http: DashboardServer) -> None:
    home = ui_kiosk.home
    assert liveness.summary(home)["alive"] is True  # type: ignore[index]
    args = signed_update(central_home, "2.0.0", ui_release(tmp_path / "noqml.tar.gz", "2.0.0", qml=False),
                       base_url=http.url, health_timeout_s=45)
    command_id = _send(ui_kiosk, central_keys, args)
    ui_kiosk.reboot()  # switched to 2.0.0; the daemon restarts into it, the UI service starts 2.0.0's UI
    wait_until(lambda: "Main.qml failed to load" in (tmp_path / "ui.log").read_text(errors="replace"), timeout=90,
               what="2.0.0's UI failing to load its QML")
    assert ui_kiosk.restarts.wait(120), "2.0.0 was never rolled back"
    ui_kiosk.reboot()  # the gate never passes: rolled back to 1.0.0 at the deadline and restarted into it
    result = ui_kiosk.result(command_id)
    assert {k: result[k] for k in ("ok", "reason", "from_version", "to_version", "running_version")} == {
        "ok": False, "reason": "rolled_back", "from_version": OLD, "to_version": "2.0.0", "running_version": OLD}
    assert "UI of release 2.0.0" in result["detail"] and "health gate" in result["detail"]
    assert ui_kiosk.releases.current_version() == OLD
    assert not (ui_kiosk.releases.path("2.0.0") / HEALTH_MARK).exists()
    rolled_back_at = time.time() - 5
    wait_until(lambda: _ui_up(home, OLD, rolled_back_at), timeout=90, what="1.0.0's UI back on the attract screen")

    # A release whose UI starts passes the same gate: its UI showed the attract screen and answered.
    args = signed_update(central_home, "3.0.0", ui_release(tmp_path / "good.tar.gz", "3.0.0"),
                       base_url=http.url, health_timeout_s=120)
    command_id = _send(ui_kiosk, central_keys, args)
    ui_kiosk.reboot()
    result = ui_kiosk.result(command_id)
    assert (result["ok"], result["running_version"]) == (True, "3.0.0"), result
    assert "UI showed the attract screen and answered" in result["detail"]
    assert (ui_kiosk.releases.path("3.0.0") / HEALTH_MARK).exists()


def test_the_gate_waits_for_the_daemon_and_refuses_worse_drivers(tmp_path: Path) -> None:
    started = time.time()
    # The daemon: neither connected since its start nor confirmed offline -> wait; a connection error -> offline.
    old = {"connected": "1", "connected_since": str(started - 100)}
    verdict = kiosk_gate(states=old, started_at=started, version="2.0.0", switched_at=started, before=None,
                         ui_home=None)
    assert (verdict.ok, verdict.final) == (False, False) and "sync daemon" in verdict.why
    offline = {"connected": "0", "connect_error": '{"error": "refused", "at": %f}' % (started + 1)}
    assert kiosk_gate(states=offline, started_at=started, version="2.0.0", switched_at=started, before=None,
                      ui_home=None).ok
    # The drivers: one that passed before and fails now ends the wait at once; a new one failing does not count.
    home = tmp_path
    liveness.write_record(home, {"pid": os.getpid(), "release": "2.0.0", "started_at": started + 2,
                                 "beat_at": time.time(), "attract_at": started + 3, "probe": None, "starts": [],
                                 "selftest": {"printer": False, "idcard": True, "camera.scanner": False}})
    selftest = {"printer": True, "idcard": True, "camera.scanner": False}
    before = {"ui": True, "selftest": selftest}
    verdict = kiosk_gate(states=offline, started_at=started, version="2.0.0", switched_at=started, before=before,
                         ui_home=home, ask=lambda _home: True)
    assert (verdict.ok, verdict.final) == (False, True) and "printer failing" in verdict.why
    assert drivers_worse(selftest, {"printer": True, "idcard": True}) == []
    # An unanswered probe (a frozen UI thread: nothing echoes the nonce) keeps the gate closed.
    verdict = kiosk_gate(states=offline, started_at=started, version="2.0.0", switched_at=started,
                         before={"ui": True}, ui_home=home, ask=lambda h: liveness.probe(h, timeout_s=0.5))
    assert (verdict.ok, verdict.final) == (False, False) and "liveness probe" in verdict.why
