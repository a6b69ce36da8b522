"""The .deb: its contents and maintainer scripts, and install, upgrade with data kept, remove and purge in a
throwaway root (``dpkg --root --force-script-chrootless``: the maintainer scripts honour ``$DPKG_ROOT``).

These packages wrap a small stand-in bundle so they build in a second; tests/test_packaging_bundle.py builds
the real bundle and its .deb and runs it from the installed tree.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.outbox.store import Outbox

ROOT = Path(__file__).resolve().parents[1]
BUILD_DEB = ROOT / "packaging" / "build-deb"
COMMANDS = ("kiosk", "kiosk-syncd", "kiosk-scan")
REQUIRED_DEPENDS = ("libegl1", "libfontconfig1", "libpulse0", "fonts-wqy-microhei", "libzbar0", "cage")


def fake_bundle(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True)
    exe = folder / "street-kiosk"
    # `-m MODULE` runs the product's module from this tree, as the bundle runs its own (packaging/entry.py):
    # postinst uses it to switch through the health gate (sync.ota.adopt).
    exe.write_text("#!/bin/sh\n"
                   f"if [ \"$1\" = -m ]; then shift; PYTHONPATH='{ROOT}' exec '{sys.executable}' -m \"$@\"; fi\n"
                   f"echo street-kiosk {version} \"$KIOSK_HOME\" \"$@\"\n", encoding="utf-8")
    exe.chmod(0o755)
    for cmd in COMMANDS:
        (folder / cmd).symlink_to("street-kiosk")
    (folder / "VERSION").write_text(version + "\n", encoding="utf-8")
    return folder


def build_deb(tmp: Path, version: str) -> Path:
    bundle = fake_bundle(tmp / f"bundle-{version}", version)
    out = tmp / "debs"
    subprocess.run([str(BUILD_DEB), "--bundle", str(bundle), "--out", str(out)], check=True, capture_output=True,
                   env=dict(os.environ, SOURCE_DATE_EPOCH="1790000000"), timeout=120)
    return out / f"street-kiosk_{version}_amd64.deb"


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("debs")
    return {v: build_deb(tmp, v) for v in ("0.1.0", "0.2.0")}


def deb_field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "--field", str(deb), field], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_the_package_holds_the_release_units_rules_and_conffiles(debs: dict[str, Path]) -> None:
    listing = subprocess.run(["dpkg-deb", "--contents", str(debs["0.1.0"])], check=True, capture_output=True,
                             text=True).stdout
    paths = {line.split()[5].removeprefix(".") for line in listing.splitlines()}
    for path in ("/opt/street-kiosk/releases/0.1.0/street-kiosk", "/opt/street-kiosk/releases/0.1.0/kiosk-session",
                 "/lib/systemd/system/kiosk-syncd.service", "/lib/systemd/system/kiosk-syncd.path",
                 "/lib/systemd/system/kiosk-ui.service", "/lib/systemd/system/kiosk-nightly-restart.timer",
                 "/lib/systemd/system/kiosk-release.path", "/lib/systemd/system/kiosk-ota-guard.timer",
                 "/usr/lib/street-kiosk/kiosk-ota-guard", "/lib/udev/rules.d/70-street-kiosk.rules",
                 "/etc/pam.d/kiosk-ui", "/etc/kiosk/environment",
                 "/usr/share/doc/street-kiosk/copyright", "/usr/share/doc/street-kiosk/changelog.gz"):
        assert path in paths, path
    for cmd in COMMANDS:
        assert f"/usr/bin/{cmd}" in paths
    # `current` is the updates' to switch, never a file dpkg owns; data and secrets are never in the package.
    assert "/opt/street-kiosk/current" not in paths
    assert not any(p.startswith("/var/lib/kiosk") for p in paths)
    assert all(" root/root " in line for line in listing.splitlines())

    depends = {d.strip().split()[0] for d in deb_field(debs["0.1.0"], "Depends").split(",")}
    assert set(REQUIRED_DEPENDS) <= depends
    control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(debs["0.1.0"])], check=True, capture_output=True)
    assert b"conffiles" in control.stdout


def test_maintainer_scripts_are_posix_sh_and_handle_every_dpkg_action(tmp_path: Path, debs: dict[str, Path]) -> None:
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "--control", str(debs["0.1.0"]), str(control)], check=True)
    for script in ("preinst", "postinst", "prerm", "postrm"):
        path = control / script
        assert path.stat().st_mode & stat.S_IXUSR
        assert path.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
        subprocess.run(["sh", "-n", str(path)], check=True)  # syntax
        subprocess.run(["dash", "-n", str(path)], check=True)
    assert 'VERSION="0.1.0"' in (control / "postinst").read_text(encoding="utf-8")
    assert (control / "conffiles").read_text(encoding="utf-8").split() == ["/etc/kiosk/environment",
                                                                           "/etc/pam.d/kiosk-ui"]
    # An action dpkg may add one day is refused loudly, not ignored.
    env = dict(os.environ, DPKG_ROOT=str(tmp_path / "nowhere"))
    bad = subprocess.run(["sh", str(control / "postrm"), "explode"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown argument" in bad.stderr


def test_lintian_finds_no_errors_or_warnings_in_the_packaging(debs: dict[str, Path]) -> None:
    result = subprocess.run(["lintian", "--tag-display-limit", "0", str(debs["0.1.0"])], capture_output=True,
                            text=True, timeout=300)
    findings = [line for line in result.stdout.splitlines() if line.startswith(("E:", "W:"))]
    assert findings == [], result.stdout


class ThrowawayRoot:
    """An empty system root with a dpkg database and the host's users, for dpkg --root."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for folder in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"):
            (path / folder).mkdir(parents=True)
        for name in ("status", "available"):
            (path / "var/lib/dpkg" / name).touch()
        for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
            if Path("/etc", name).exists():
                shutil.copy2(Path("/etc", name), path / "etc" / name)

    def dpkg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["dpkg", f"--root={self.path}", "--force-script-chrootless", "--force-depends",
                               "--force-confold", "--log=/dev/null", *args],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))

    def status(self) -> str:
        result = subprocess.run(["dpkg-query", f"--root={self.path}", "-W", "-f=${Status} ${Version}", "street-kiosk"],
                                capture_output=True, text=True)
        return result.stdout.strip()

    def account(self, name: str, file: str = "passwd") -> list[str] | None:
        for line in (self.path / "etc" / file).read_text(encoding="utf-8").splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return fields
        return None

    def __truediv__(self, rel: str) -> Path:
        return self.path / rel.lstrip("/")


def digest_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_install_upgrade_keeps_data_remove_keeps_it_purge_deletes_it(tmp_path: Path, debs: dict[str, Path]) -> None:
    root = ThrowawayRoot(tmp_path / "root")

    # -- install -----------------------------------------------------------------------------------
    done = root.dpkg("--install", str(debs["0.1.0"]))
    assert done.returncode == 0, done.stderr
    assert root.status() == "install ok installed 0.1.0"
    user = root.account("kiosk")
    assert user is not None
    assert user[5] == "/var/lib/kiosk" and user[6] == "/usr/sbin/nologin"
    assert int(user[2]) < 1000  # a system account
    group = root.account("kiosk", "group")
    assert group is not None and group[2] == user[3]
    uid, gid = int(user[2]), int(user[3])
    assert "kiosk" in (root.account("video", "group") or ["", "", "", ""])[3].split(",")
    assert "kiosk" in (root.account("dialout", "group") or ["", "", "", ""])[3].split(",")

    data, secrets = root / "var/lib/kiosk", root / "var/lib/kiosk/secrets"
    assert stat.S_IMODE(data.stat().st_mode) == 0o750 and (data.stat().st_uid, data.stat().st_gid) == (uid, gid)
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700 and secrets.stat().st_uid == uid
    config = root / "etc/kiosk"
    assert stat.S_IMODE(config.stat().st_mode) == 0o750 and (config.stat().st_uid, config.stat().st_gid) == (0, gid)
    assert os.readlink(root / "opt/street-kiosk/current") == "releases/0.1.0"
    assert (root / "opt/street-kiosk/releases").stat().st_uid == uid  # the daemon adds OTA releases here
    assert (root / "opt/street-kiosk/releases/0.1.0/street-kiosk").stat().st_uid == 0  # the code stays root's
    assert os.readlink(root / "usr/bin/kiosk") == "../lib/street-kiosk/kiosk-command"
    # /usr/bin/kiosk runs the current release's command on the machine's data folder.
    env = {k: v for k, v in os.environ.items() if k != "KIOSK_HOME"}
    wrapper = subprocess.run([str(root / "usr/bin/kiosk"), "status", "--json"], capture_output=True, text=True,
                             env=dict(env, KIOSK_OTA_ROOT=str(root / "opt/street-kiosk")))
    assert wrapper.stdout.split() == ["street-kiosk", "0.1.0", "/var/lib/kiosk", "status", "--json"]
    wants = root / "etc/systemd/system"
    assert (wants / "multi-user.target.wants/kiosk-syncd.service").is_symlink()
    assert (wants / "multi-user.target.wants/kiosk-syncd.path").is_symlink()
    assert (wants / "graphical.target.wants/kiosk-ui.service").is_symlink()
    assert (wants / "multi-user.target.wants/kiosk-release.path").is_symlink()
    assert (wants / "timers.target.wants/kiosk-ota-guard.timer").is_symlink()
    assert not (wants / "timers.target.wants/kiosk-nightly-restart.timer").exists()  # optional: off by default

    # -- the kiosk lives: a queue with undelivered applications, a device key, a technician's settings -------
    outbox = Outbox(data / "outbox.db")
    outbox.set_states({"catalog_version": "2026.11"})
    outbox.close()
    (secrets / "device.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a real key\n")
    (config / "central-command.pub").write_text("dGVzdA==\n", encoding="utf-8")
    env_file = config / "environment"
    env_file.write_text(env_file.read_text(encoding="utf-8") + "QT_SCALE_FACTOR=1.25\n", encoding="utf-8")
    kept = digest_tree(data)
    kept_config = digest_tree(config)

    # -- upgrade -----------------------------------------------------------------------------------
    done = root.dpkg("--install", str(debs["0.2.0"]))
    assert done.returncode == 0, done.stderr
    assert root.status() == "install ok installed 0.2.0"
    assert os.readlink(root / "opt/street-kiosk/current") == "releases/0.2.0"
    # dpkg deleted its own 0.1.0, but preinst kept it (hard links) so the switch has the update's health gate and
    # somewhere to go back to: 0.1.0 is back, as the daemon's to prune once 0.2.0 is confirmed.
    from sync.ota.switch import SWITCHED, Releases

    old_exe = root / "opt/street-kiosk/releases/0.1.0/street-kiosk"
    assert "echo street-kiosk 0.1.0 " in old_exe.read_text(encoding="utf-8")
    assert old_exe.stat().st_uid == uid and old_exe.stat().st_mode & stat.S_IXUSR
    state = Releases(root / "opt/street-kiosk").load_state()
    assert state is not None and (state.phase, state.version, state.previous) == (SWITCHED, "0.2.0", "0.1.0")
    assert state.extra["baseline"] == {"ui": False, "selftest": None}  # no UI has run in this throwaway root
    assert not (root / "opt/.street-kiosk-keep").exists()  # no kept copy left behind
    assert digest_tree(data) == kept
    assert digest_tree(config) == kept_config  # the edited conffile and the technician's key are kept
    assert root.account("kiosk") == user  # same account, same ids

    # -- remove: the code goes, the data and configuration stay --------------------------------------------
    done = root.dpkg("--remove", "street-kiosk")
    assert done.returncode == 0, done.stderr
    assert not (root / "opt/street-kiosk/releases/0.2.0").exists()
    assert not os.path.lexists(root / "opt/street-kiosk/current")
    assert not (root / "lib/systemd/system/kiosk-syncd.service").exists()
    assert digest_tree(data) == kept
    assert (config / "central-command.pub").exists()

    # -- purge: only now is the data deleted ---------------------------------------------------------------
    done = root.dpkg("--purge", "street-kiosk")
    assert done.returncode == 0, done.stderr
    assert not data.exists()
    assert not config.exists()
    assert not (root / "opt/street-kiosk").exists()
    assert not (wants / "multi-user.target.wants/kiosk-syncd.service").exists()
    assert root.status() in ("", "unknown ok not-installed")


def test_an_administrators_disabled_unit_stays_disabled_across_an_upgrade(tmp_path: Path,
                                                                            debs: dict[str, Path]) -> None:
    root = ThrowawayRoot(tmp_path / "root")
    assert root.dpkg("--install", str(debs["0.1.0"])).returncode == 0
    subprocess.run(["systemctl", f"--root={root.path}", "disable", "kiosk-ui.service"], check=True, capture_output=True)
    assert not (root / "etc/systemd/system/graphical.target.wants/kiosk-ui.service").exists()
    assert root.dpkg("--install", str(debs["0.2.0"])).returncode == 0
    assert not (root / "etc/systemd/system/graphical.target.wants/kiosk-ui.service").exists()
    assert (root / "etc/systemd/system/multi-user.target.wants/kiosk-syncd.service").is_symlink()


def test_a_bad_version_or_a_missing_bundle_is_refused(tmp_path: Path) -> None:
    missing = subprocess.run([str(BUILD_DEB), "--bundle", str(tmp_path / "none"), "--out", str(tmp_path)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no bundle" in missing.stderr
    bundle = fake_bundle(tmp_path / "b", "0.1.0")
    bad = subprocess.run([str(BUILD_DEB), "--bundle", str(bundle), "--version", "1.0 beta", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "not a Debian version" in bad.stderr
    assert not list(tmp_path.glob("*.deb"))


def test_a_deb_never_downgrades_a_newer_over_the_air_release(tmp_path: Path, debs: dict[str, Path]) -> None:
    """Issue 17 finding 8: postinst switched `current` unconditionally, so a .deb could silently downgrade a release
    an OTA update had installed, and skipped the health gate."""
    root = ThrowawayRoot(tmp_path / "root")
    assert root.dpkg("--install", str(debs["0.1.0"])).returncode == 0
    opt = root / "opt/street-kiosk"
    shutil.copytree(opt / "releases/0.1.0", opt / "releases/0.3.0", symlinks=True)  # what sync.ota unpacks
    (opt / "releases/0.3.0/VERSION").write_text("0.3.0\n", encoding="utf-8")
    (opt / "current").unlink()
    (opt / "current").symlink_to("releases/0.3.0")

    done = root.dpkg("--install", str(debs["0.2.0"]))
    assert done.returncode == 0, done.stderr
    assert os.readlink(opt / "current") == "releases/0.3.0" and "0.3.0" in done.stderr  # kept, and said so
    assert (opt / "releases/0.2.0/street-kiosk").exists() and not (opt / "ota_state.json").exists()

    # A newer package does switch, through the update's health gate: the daemon confirms it or the guard goes
    # back to the over-the-air release, which is still there.
    done = root.dpkg("--install", str(build_deb(tmp_path, "0.4.0")))
    assert done.returncode == 0, done.stderr
    assert os.readlink(opt / "current") == "releases/0.4.0"
    from sync.ota.switch import SWITCHED, Releases

    state = Releases(opt).load_state()
    assert state is not None and (state.phase, state.version, state.previous) == (SWITCHED, "0.4.0", "0.3.0")
    assert state.deadline > state.switched_at and (opt / "releases/0.3.0").is_dir()


def test_a_deb_upgrade_over_an_ota_release_gets_the_updates_whole_health_gate(tmp_path: Path,
                                                                             debs: dict[str, Path]) -> None:
    """Issue 17: the .deb switched `current` with a deadline only (no baseline), so the new release counted as healthy
    once the daemon was up even if its UI never drew the attract screen, and a rollback could not take the outbox
    back. Now postinst records what an update records and the daemon's manager rolls such a release back."""
    from sync.ota import liveness
    from sync.ota.health import kiosk_gate
    from sync.ota.manager import OtaManager
    from sync.ota.schema import code_head
    from sync.ota.switch import ROLLED_BACK, SWITCHED, Releases
    from sync.ota.trust import ReleaseTrust
    from sync.outbox.store import MIGRATIONS

    root = ThrowawayRoot(tmp_path / "root")
    assert root.dpkg("--install", str(debs["0.1.0"])).returncode == 0
    opt, home = root / "opt/street-kiosk", root / "var/lib/kiosk"
    shutil.copytree(opt / "releases/0.1.0", opt / "releases/0.3.0", symlinks=True)  # an over-the-air release
    shutil.copytree(MIGRATIONS, opt / "releases/0.3.0/_internal/sync/outbox/migrations")  # as the bundle has them
    (opt / "current").unlink()
    (opt / "current").symlink_to("releases/0.3.0")
    Outbox(home / "outbox.db").close()
    now = time.time()  # the running kiosk: its UI is alive, drew the attract screen, two drivers pass
    liveness.write_record(home, {"pid": os.getpid(), "release": "0.3.0", "started_at": now - 60, "beat_at": now,
                                 "attract_at": now - 55, "starts": [now - 60],
                                 "selftest": {"printer": True, "idcard": True, "camera.scanner": False}})

    done = root.dpkg("--install", str(build_deb(tmp_path, "0.4.0")))
    assert done.returncode == 0, done.stderr
    assert "through the update's health gate" in done.stderr
    assert os.readlink(opt / "current") == "releases/0.4.0"
    assert (opt / "ota_state.json").stat().st_uid == int((root.account("kiosk") or ["", "", "-1"])[2])
    releases = Releases(opt)
    state = releases.load_state()
    assert state is not None and (state.phase, state.version, state.previous) == (SWITCHED, "0.4.0", "0.3.0")
    assert state.extra["source"] == "dpkg"
    assert state.extra["baseline"] == {"ui": True, "selftest": {"printer": True, "idcard": True,
                                                                "camera.scanner": False}}
    assert state.extra["schema"]["db"] == str(home / "outbox.db")
    assert state.extra["schema"]["head"] == code_head(MIGRATIONS)  # from the running release's own scripts

    # The daemon's gate: up and connected is not enough while the new release's UI has not drawn the attract screen
    # (with the old state's empty baseline this said "healthy").
    online = {"connected": "1", "connected_since": str(now + 5)}
    gate = kiosk_gate(states=online, started_at=now, version="0.4.0", switched_at=state.switched_at,
                      before=state.extra["baseline"], ui_home=home, ask=lambda _home: True)
    assert not gate.ok and "has not started" in gate.why
    liveness.write_record(home, {"pid": os.getpid(), "release": "0.4.0", "started_at": state.switched_at + 1,
                                 "beat_at": time.time(), "attract_at": state.switched_at + 2,
                                 "selftest": {"printer": False, "idcard": True, "camera.scanner": False}})
    gate = kiosk_gate(states=online, started_at=now, version="0.4.0", switched_at=state.switched_at,
                      before=state.extra["baseline"], ui_home=home, ask=lambda _home: True)
    assert (gate.ok, gate.final) == (False, True) and "printer" in gate.why

    # ...and the daemon's update manager, finding it unconfirmed at the deadline, goes back to the OTA release.
    reports: list[tuple[bool, str, dict[str, object] | None]] = []
    outbox = Outbox(home / "outbox.db")
    try:
        manager = OtaManager(releases, outbox, report=lambda _c, _a, ok, reason, _d, facts: reports.append(
                                 (ok, reason, facts)),
                             restart=lambda: None, trust=ReleaseTrust(home), clock=lambda: state.deadline + 1,
                             ui_home=home)
        manager.resume()
    finally:
        outbox.close()
    assert os.readlink(opt / "current") == "releases/0.3.0"
    after = releases.load_state()
    assert after is not None and after.phase == ROLLED_BACK
    assert [(ok, reason) for ok, reason, _ in reports] == [(False, "rolled_back")]
    assert reports[0][2] is not None and reports[0][2]["source"] == "dpkg"
    assert reports[0][2]["schema"].startswith("unchanged")  # type: ignore[union-attr]
