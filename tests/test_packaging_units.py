"""The systemd units pass ``systemd-analyze verify`` and say what the appliance relies on: the daemon is
Type=notify with a watchdog, both services restart always, run as the kiosk user, and are hardened."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "packaging" / "systemd"
UNIT_NAMES = ("kiosk-syncd.service", "kiosk-syncd.path", "kiosk-ui.service", "kiosk-nightly-restart.service",
              "kiosk-nightly-restart.timer", "kiosk-release.path", "kiosk-release-switched.service",
              "kiosk-ota-guard.service", "kiosk-ota-guard.timer")
HOST_UNITS = Path("/usr/lib/systemd/system")


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (a key may repeat; values are split on whitespace)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).extend(value.split())
    return sections


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with this machine's units plus ours, and stand-ins for the bundle's executables."""
    root = tmp_path_factory.mktemp("units-root")
    system = root / "usr/lib/systemd/system"
    shutil.copytree(HOST_UNITS, system, symlinks=True)
    for name in UNIT_NAMES:
        shutil.copy2(UNITS / name, system / name)
    current = root / "opt/street-kiosk/current"
    current.mkdir(parents=True)
    for exe in ("kiosk-syncd", "kiosk-session"):
        (current / exe).write_text("#!/bin/sh\n", encoding="utf-8")
        (current / exe).chmod(0o755)
    (root / "usr/lib/street-kiosk").mkdir(parents=True)
    shutil.copy2(ROOT / "packaging/session/kiosk-ota-guard", root / "usr/lib/street-kiosk/kiosk-ota-guard")
    (root / "bin").mkdir()
    shutil.copy2(shutil.which("systemctl") or "/bin/systemctl", root / "bin/systemctl")
    return root


def test_units_pass_systemd_analyze_verify(verify_root: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", f"--root={verify_root}",
                             *[f"/usr/lib/systemd/system/{n}" for n in UNIT_NAMES]],
                            capture_output=True, text=True, timeout=120)
    # verify exits 0 on unknown keys and only warns: any output at all is a finding.
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


def test_verify_catches_a_misspelt_directive(verify_root: Path) -> None:
    """The check above can fail: a unit with a typo is reported."""
    bad = verify_root / "usr/lib/systemd/system/kiosk-typo.service"
    bad.write_text((UNITS / "kiosk-syncd.service").read_text(encoding="utf-8").replace("WatchdogSec=", "WatchdogSex="),
                   encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", f"--root={verify_root}",
                             "/usr/lib/systemd/system/kiosk-typo.service"], capture_output=True, text=True, timeout=120)
    bad.unlink()
    assert "WatchdogSex" in result.stderr


def test_the_daemon_is_notify_with_a_watchdog_and_always_restarts() -> None:
    service = unit("kiosk-syncd.service")["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert int(service["WatchdogSec"][0]) > 0
    assert service["Restart"] == ["always"]
    assert service["User"] == ["kiosk"]
    assert service["ExecStart"][0] == "/opt/street-kiosk/current/kiosk-syncd"
    assert "75" in service["RestartForceExitStatus"]  # sync.ota's "restart into the new release"
    assert unit("kiosk-syncd.service")["Unit"]["StartLimitIntervalSec"] == ["0"]  # never gives up


def test_the_ui_has_a_watchdog_fed_by_its_ui_thread() -> None:
    """Finding 2 of issue 17: a frozen UI is restarted. The UI is cage's child, so any process of the unit may
    notify; READY=1 comes once the attract screen is drawn (kiosk/liveness.py)."""
    service = unit("kiosk-ui.service")["Service"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["all"]
    assert 0 < int(service["WatchdogSec"][0]) <= 60 and service["Restart"] == ["always"]
    assert int(service["TimeoutStartSec"][0]) >= 60  # the first start builds font and QML caches
    session = (ROOT / "packaging/session/kiosk-session").read_text(encoding="utf-8")
    assert "KIOSK_RELEASE_DIR" in session  # the UI names its release in its liveness record


def test_both_services_are_hardened_and_write_only_where_they_must() -> None:
    for name, writable in (("kiosk-syncd.service", {"/var/lib/kiosk", "/opt/street-kiosk"}),
                           ("kiosk-ui.service", {"/var/lib/kiosk"})):
        service = unit(name)["Service"]
        assert service["ProtectSystem"] == ["strict"], name
        assert service["NoNewPrivileges"] == ["yes"], name
        assert service["PrivateTmp"] == ["yes"], name
        assert service["ProtectHome"] == ["yes"], name
        assert set(service["ReadWritePaths"]) == writable, name
        assert service["User"] == ["kiosk"] and service["Restart"] == ["always"], name


def test_the_ui_runs_in_a_kiosk_session_on_tty1() -> None:
    sections = unit("kiosk-ui.service")
    service = sections["Service"]
    assert service["ExecStart"] == ["/opt/street-kiosk/current/kiosk-session"]
    assert service["PAMName"] == ["kiosk-ui"] and service["TTYPath"] == ["/dev/tty1"]
    assert "getty@tty1.service" in sections["Unit"]["Conflicts"]
    session = (ROOT / "packaging/session/kiosk-session").read_text(encoding="utf-8")
    assert "/usr/bin/cage -d --" in session and "run --fullscreen" in session
    assert os.access(ROOT / "packaging/session/kiosk-session", os.X_OK)


def test_the_nightly_restart_is_a_timer_that_restarts_both() -> None:
    timer = unit("kiosk-nightly-restart.timer")
    assert timer["Timer"]["OnCalendar"] == ["*-*-*", "03:30:00"]
    service = unit("kiosk-nightly-restart.service")["Service"]
    assert service["ExecStart"] == ["/bin/systemctl", "try-restart", "kiosk-syncd.service", "kiosk-ui.service"]


def test_a_release_switch_restarts_the_ui_and_a_guard_rolls_back_an_unhealthy_one() -> None:
    assert unit("kiosk-release.path")["Path"]["PathChanged"] == ["/opt/street-kiosk/current"]
    assert unit("kiosk-release-switched.service")["Service"]["ExecStart"] == [
        "/bin/systemctl", "try-restart", "kiosk-ui.service"]
    guard = unit("kiosk-ota-guard.service")["Service"]
    assert guard["ExecStart"] == ["/usr/lib/street-kiosk/kiosk-ota-guard"]  # outside the releases
    assert guard["User"] == ["kiosk"] and guard["ProtectSystem"] == ["strict"]
    assert unit("kiosk-ota-guard.timer")["Timer"]["OnUnitActiveSec"] == ["1min"]


def test_the_guard_runs_from_the_previous_release_named_in_the_update_state(tmp_path: Path) -> None:
    root = tmp_path / "opt"
    for version in ("1.0.0", "1.1.0"):
        release = root / "releases" / version
        release.mkdir(parents=True)
        exe = release / "street-kiosk"
        exe.write_text(f"#!/bin/sh\necho {version} \"$@\"\n", encoding="utf-8")
        exe.chmod(0o755)
    (root / "current").symlink_to("releases/1.1.0")
    guard = ROOT / "packaging/session/kiosk-ota-guard"
    env = dict(os.environ, KIOSK_OTA_ROOT=str(root))
    without_state = subprocess.run([str(guard)], env=env, capture_output=True, text=True, check=True).stdout
    assert without_state.split() == ["1.1.0", "-m", "sync.ota", "guard", "--root", str(root)]
    (root / "ota_state.json").write_text('{"command_id": "c1", "version": "1.1.0", "previous": "1.0.0", '
                                         '"phase": "switched"}', encoding="utf-8")
    with_state = subprocess.run([str(guard)], env=env, capture_output=True, text=True, check=True).stdout
    assert with_state.split()[0] == "1.0.0"


def test_udev_rules_give_the_kiosk_group_the_reader_and_cameras() -> None:
    rules = (ROOT / "packaging/udev/70-street-kiosk.rules").read_text(encoding="utf-8")
    lines = [line for line in rules.splitlines() if line and not line.startswith("#")]
    assert any('SUBSYSTEM=="tty"' in line and 'GROUP="kiosk"' in line for line in lines)
    assert any('SUBSYSTEM=="video4linux"' in line and 'GROUP="kiosk"' in line for line in lines)
    for line in lines:
        assert 'MODE="0660"' in line  # never world-accessible
        for part in line.split(", "):
            assert "==" in part or "=" in part or "+=" in part, part
