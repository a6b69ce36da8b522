"""Signed over-the-air updates end to end: the central stages and serves the artefact and signs the
``update`` command (``kiosk-central command ... update``); the kiosk downloads in the background, verifies
hash and release signature, unpacks side by side, switches ``current`` only between residents' sessions,
asks for a restart, and after the restart confirms the new version healthy or rolls back. A good update
applies and reports; a tampered artefact, a bad signature and a version that fails its health check all end
on the old version, reported. Releases are small tar.gz files with a VERSION file and a health script."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.commands import send_command, update_args
from central.fleet import fleet_list
from central.keys import CentralKeys
from central.web.server import DashboardServer, serve
from devtools.broker import MosquittoBroker
from sync.daemon.commands import CommandExecutor
from sync.daemon.service import SyncDaemon
from sync.device import DeviceConfig
from sync.ota.health import HEALTH_MARK
from sync.ota.install import InstallError, unpack_release
from sync.ota.manager import guard_check
from sync.ota.switch import SWITCHED, Releases, UpdateState
from sync.ota.trust import ReleaseTrust
from sync.ota.verify import file_digest
from sync.outbox.store import Outbox
from sync.protocol.release import release_manifest
from tests.helpers import Central, start_daemon, wait_until

BIN = Path(sys.executable).parent
OLD = "1.0.0"
# The offline release key (packaging/release key new): never the central's command key, which these tests'
# central holds. Kiosks pin its public half (sync.ota.trust).
RELEASE_KEY = Ed25519PrivateKey.generate()


def pin_release_key(home: Path, key: Ed25519PrivateKey = RELEASE_KEY) -> None:
    ReleaseTrust(home).pin(key.public_key().public_bytes_raw())


def write_manifest(artefact: Path, version: str, key: Ed25519PrivateKey = RELEASE_KEY) -> Path:
    """``<artefact>.release.json`` as ``packaging/release`` writes it (signed offline)."""
    sha, size = file_digest(artefact)
    path = artefact.with_name(artefact.name + ".release.json")
    path.write_text(json.dumps(release_manifest(key.private_bytes_raw(), version, sha, size)), encoding="utf-8")
    return path


def signed_update(central_home: Path, version: str, artefact: Path, *, base_url: str,
                  key: Ed25519PrivateKey = RELEASE_KEY, rotation: dict[str, str] | None = None,
                  health_timeout_s: int | None = None) -> dict[str, Any]:
    """``update`` arguments as an operator makes them: the artefact's manifest signed offline, then staged."""
    sha, size = file_digest(artefact)
    manifest = release_manifest(key.private_bytes_raw(), version, sha, size, rotation=rotation)
    return update_args(central_home, version, artefact, base_url=base_url, manifest=manifest,
                       health_timeout_s=health_timeout_s)


def release_archive(path: Path, version: str, *, healthy: bool = True, extra: dict[str, bytes] | None = None) -> Path:
    """A fake release: VERSION, an executable health script, an 'app'."""
    files = {"VERSION": f"{version}\n".encode(), "health": b"#!/bin/sh\nexit %d\n" % (0 if healthy else 1),
             "bin/app": b"#!/bin/sh\necho street-kiosk\n", **(extra or {})}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


class Kiosk:
    """One kiosk: outbox + executor + daemon; ``reboot()`` plays systemd restarting kiosk-syncd."""

    def __init__(self, outbox: Outbox, device: DeviceConfig, home: Path, root: Path, central: Central) -> None:
        self.outbox, self.device, self.home, self.central = outbox, device, home, central
        self.releases = Releases(root)
        self.restarts = threading.Event()
        self.boots = 0
        self.boot()

    def boot(self) -> None:
        self.boots += 1
        self.executor = CommandExecutor(self.outbox, self.device, self.home, ota_root_dir=self.releases.root,
                                        on_restart=self.restarts.set, ota_options={"poll_s": 0.05})
        self.daemon: SyncDaemon = start_daemon(self.outbox, self.device, command_handler=self.executor.handle,
                                               heartbeat_interval_s=0.3)
        self.executor.resume_updates()
        wait_until(lambda: self.outbox.states().get("connected") == "1", what="the kiosk connected")

    def reboot(self) -> None:
        assert self.restarts.wait(20), "the kiosk never asked for a restart"
        self.restarts.clear()
        self.shutdown()
        self.boot()

    def shutdown(self) -> None:
        self.daemon.stop()
        self.executor.ota.stop()

    def results(self, command_id: str) -> list[dict[str, Any]]:
        return [e["meta"] for e in self.central.store.events("command_result")
                if e["meta"].get("command_id") == command_id]

    def result(self, command_id: str) -> dict[str, Any]:
        wait_until(lambda: bool(self.results(command_id)), timeout=30, what="the update's result at the central")
        [result] = self.results(command_id)
        return result

    def fleet_release(self) -> str | None:
        rows = [r for r in fleet_list(self.central.store, time.time()) if r["device_id"] == self.device.device_id]
        return rows[0]["release_version"] if rows else None


@pytest.fixture
def central_home(tmp_path: Path, central_keys: CentralKeys) -> Path:
    home = tmp_path / "central-home"
    central_keys.save(home)
    return home


@pytest.fixture
def http(central: Central, central_home: Path, broker: MosquittoBroker) -> Iterator[DashboardServer]:
    server = serve(central.store, "127.0.0.1", 0, keys_home=central_home, broker_url=broker.url,
                   evaluate_every_s=None)
    yield server
    server.stop()


@pytest.fixture
def kiosk(outbox: Outbox, device: DeviceConfig, kiosk_home: Path, tmp_path: Path, central: Central) -> Iterator[Kiosk]:
    root = tmp_path / "opt-street-kiosk"
    unpack_release(release_archive(tmp_path / "old.tar.gz", OLD), root / "releases", OLD)
    Releases(root).switch_to(OLD)
    pin_release_key(kiosk_home)
    k = Kiosk(outbox, device, kiosk_home, root, central)
    wait_until(lambda: (central.store.device(device.device_id) or {}).get("status") == "online",
               what="the kiosk online at the central")
    yield k
    k.shutdown()


def _send(kiosk: Kiosk, keys: CentralKeys, args: dict[str, Any]) -> str:
    return send_command(keys, kiosk.device.broker_url, kiosk.device.device_id, "update", args).id


def test_good_update_applies_between_sessions_restarts_and_reports(kiosk: Kiosk, tmp_path: Path,
                                                                     central_home: Path, http: DashboardServer) -> None:
    kiosk.outbox.set_states({"session_active": "1", "session_changed": str(time.time())})  # a resident is here
    artefact = release_archive(tmp_path / "new.tar.gz", "2.0.0")
    write_manifest(artefact, "2.0.0")  # signed offline; the central only passes the signature on
    out = subprocess.run([str(BIN / "kiosk-central"), "command", kiosk.device.device_id, "update", "--version",
                          "2.0.0", "--artifact", str(artefact), "--base-url", http.url, "--broker",
                          kiosk.device.broker_url, "--home", str(central_home), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    sent = json.loads(out.stdout)
    assert sent["action"] == "update" and sent["args"]["version"] == "2.0.0"
    assert sent["args"]["url"].startswith(http.url + "/ota/artifacts/")

    # Downloaded, verified and unpacked beside the old release, but not switched during the session.
    wait_until(lambda: (kiosk.releases.path("2.0.0") / "VERSION").exists(), timeout=20, what="2.0.0 unpacked")
    assert kiosk.releases.current_version() == OLD and not kiosk.restarts.is_set()
    kiosk.outbox.set_states({"session_active": "0", "session_changed": str(time.time())})  # back to attract
    assert kiosk.restarts.wait(20)
    assert kiosk.releases.current_version() == "2.0.0" and kiosk.releases.path(OLD).is_dir()
    assert kiosk.results(sent["command_id"]) == []  # reported only once the new version is confirmed

    kiosk.reboot()  # systemd starts `current`, now 2.0.0
    result = kiosk.result(sent["command_id"])
    assert {k: result[k] for k in ("ok", "reason", "from_version", "to_version", "running_version")} == {
        "ok": True, "reason": "ok", "from_version": OLD, "to_version": "2.0.0", "running_version": "2.0.0"}
    assert (kiosk.releases.path("2.0.0") / HEALTH_MARK).exists()
    wait_until(lambda: kiosk.fleet_release() == "2.0.0", what="the fleet view showing 2.0.0")

    # The same version again is refused at once; nothing restarts.
    again = _send(kiosk, CentralKeys.load(central_home), dict(sent["args"]))
    assert (kiosk.result(again)["reason"], kiosk.restarts.is_set()) == ("refused", False)


def _staged(central_home: Path, args: dict[str, Any]) -> Path:
    return central_home / "ota" / "artifacts" / args["sha256"]


def test_tampered_artefact_is_refused_and_the_old_version_stays(kiosk: Kiosk, tmp_path: Path, central_home: Path,
                                                                central_keys: CentralKeys,
                                                                http: DashboardServer) -> None:
    args = signed_update(central_home, "2.0.0", release_archive(tmp_path / "n.tar.gz", "2.0.0"),
                       base_url=http.url)
    evil = release_archive(tmp_path / "evil.tar.gz", "2.0.0", extra={"bin/app": b"#!/bin/sh\nsteal\n"})
    _staged(central_home, args).write_bytes(evil.read_bytes())  # swapped on the server after signing
    result = kiosk.result(_send(kiosk, central_keys, args))
    assert (result["ok"], result["reason"], result["stage"]) == (False, "refused", "verify")
    assert (result["from_version"], result["running_version"]) == (OLD, OLD)
    assert "SHA-256" in result["detail"] or "bytes" in result["detail"]
    assert kiosk.releases.current_version() == OLD and not kiosk.releases.path("2.0.0").exists()
    assert not kiosk.restarts.is_set()
    assert not any((kiosk.releases.root / "downloads").iterdir())  # the bad download is gone


def test_bad_release_signature_is_refused(kiosk: Kiosk, tmp_path: Path, central_home: Path,
                                          central_keys: CentralKeys, http: DashboardServer) -> None:
    stranger = Ed25519PrivateKey.generate()  # hash and size right, signed by a key the kiosk does not pin
    args = signed_update(central_home, "2.0.0", release_archive(tmp_path / "n.tar.gz", "2.0.0"),
                         base_url=http.url, key=stranger)
    result = kiosk.result(_send(kiosk, central_keys, args))
    assert (result["ok"], result["reason"], result["stage"]) == (False, "refused", "verify")
    assert "signature" in result["detail"]
    # A signature for another version (replayed onto a new version number) fails the same way.
    good = signed_update(central_home, "2.0.0", release_archive(tmp_path / "m.tar.gz", "3.0.0"),
                       base_url=http.url)
    result = kiosk.result(_send(kiosk, central_keys, {**good, "version": "3.0.0"}))
    assert (result["reason"], "signature" in result["detail"]) == ("refused", True)
    assert kiosk.releases.current_version() == OLD and kiosk.releases.installed() == [OLD]
    assert not kiosk.restarts.is_set()


def test_unhealthy_version_is_rolled_back_and_reported_once(kiosk: Kiosk, tmp_path: Path, central_home: Path,
                                                            central_keys: CentralKeys, http: DashboardServer) -> None:
    args = signed_update(central_home, "2.0.0",
                       release_archive(tmp_path / "sick.tar.gz", "2.0.0", healthy=False), base_url=http.url)
    command_id = _send(kiosk, central_keys, args)
    kiosk.reboot()  # switched to 2.0.0 and restarted into it
    kiosk.reboot()  # 2.0.0's health script fails: back to 1.0.0, restarted into it
    result = kiosk.result(command_id)
    assert {k: result[k] for k in ("ok", "reason", "from_version", "to_version", "running_version")} == {
        "ok": False, "reason": "rolled_back", "from_version": OLD, "to_version": "2.0.0", "running_version": OLD}
    assert "health script exited with status 1" in result["detail"]
    assert kiosk.releases.current_version() == OLD
    assert not (kiosk.releases.path("2.0.0") / HEALTH_MARK).exists()
    wait_until(lambda: kiosk.fleet_release() == OLD, what="the fleet view showing the old version")
    assert len(kiosk.results(command_id)) == 1 and not kiosk.restarts.is_set()


def test_version_that_never_starts_is_rolled_back_by_the_guard(kiosk: Kiosk, tmp_path: Path) -> None:
    # 2.0.0 was switched to but never came up (crash loop): its deadline passes without a health mark.
    kiosk.shutdown()
    unpack_release(release_archive(tmp_path / "dead.tar.gz", "2.0.0"), kiosk.releases.dir, "2.0.0")
    state = UpdateState(command_id="0190a0a0-0000-7000-8000-000000000001", version="2.0.0", previous=OLD,
                        phase=SWITCHED, deadline=time.time() + 60, switched_at=time.time())
    kiosk.releases.save_state(state)
    kiosk.releases.switch_to("2.0.0")
    assert guard_check(kiosk.releases) is None  # before the deadline: left alone
    assert guard_check(kiosk.releases, now=time.time() + 120) == OLD
    assert kiosk.releases.current_version() == OLD
    out = subprocess.run([sys.executable, "-m", "sync.ota", "guard", "--root", str(kiosk.releases.root)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "nothing to roll back" in out.stdout
    kiosk.boot()  # the old version starts and reports what the guard did
    result = kiosk.result(state.command_id or "")
    assert (result["reason"], result["running_version"], result["to_version"]) == ("rolled_back", OLD, "2.0.0")
    assert "guard" in result["detail"]


def test_unsafe_or_mislabelled_archives_are_not_installed(tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    escape = tmp_path / "escape.tar.gz"
    with tarfile.open(escape, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(InstallError, match="OutsideDestination"):
        unpack_release(escape, releases, "2.0.0")
    with pytest.raises(InstallError, match="VERSION"):
        unpack_release(release_archive(tmp_path / "other.tar.gz", "9.9.9"), releases, "2.0.0")
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(InstallError):
        unpack_release(tmp_path / "junk.tar.gz", releases, "2.0.0")
    assert not (tmp_path / "etc").exists() and list(releases.iterdir()) == []


def test_cli_refuses_bad_update_input_clearly(tmp_path: Path, central_home: Path, broker: MosquittoBroker) -> None:
    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "kiosk-central"), "command", "k-1", "update", *extra, "--broker",
                               broker.url, "--home", str(central_home)], capture_output=True, text=True, timeout=60)

    artefact = release_archive(tmp_path / "a.tar.gz", "2.0.0")
    out = run("--version", "2.0.0", "--artifact", str(artefact), "--base-url", "http://c:8080")
    assert out.returncode == 2 and "release manifest" in out.stderr  # the central signs no release itself
    write_manifest(artefact, "3.0.0")
    out = run("--version", "2.0.0", "--artifact", str(artefact), "--base-url", "http://c:8080")
    assert out.returncode == 2 and "another version" in out.stderr
    write_manifest(artefact, "2.0.0")
    out = run("--version", "2.0.0", "--artifact", str(artefact))
    assert out.returncode == 2 and "--base-url" in out.stderr
    out = run("--version", "../../x", "--artifact", str(artefact), "--base-url", "http://c:8080")
    assert out.returncode == 2 and "--version" in out.stderr
    out = run("--version", "2.0.0", "--artifact", str(tmp_path / "missing.tar.gz"), "--base-url", "http://c:8080")
    assert out.returncode == 2 and "is not a file" in out.stderr
    out = run("--version", "2.0.0", "--artifact", str(artefact), "--base-url", "ftp://c")
    assert out.returncode == 2 and "http" in out.stderr


def test_the_ui_records_resident_sessions_for_the_updater(qtbot: Any, outbox: Outbox, device: DeviceConfig) -> None:
    from kiosk import services
    from kiosk.journey.config import JourneyConfig
    from kiosk.journey.submitter import Submitter
    from kiosk.journey.viewmodel import JourneyViewModel

    services.clear()
    # No voice: the spoken prompts (eSpeak child processes) are not what this test is about.
    vm = JourneyViewModel(submitter=Submitter(outbox, device), config=JourneyConfig(voice=False))
    assert "session_active" not in outbox.states()
    vm.start()  # a resident touches the attract screen
    qtbot.waitUntil(lambda: vm.screen == "home", timeout=5000)
    assert outbox.states()["session_active"] == "1"
    vm.endSession()
    assert vm.screen == "attract" and outbox.states()["session_active"] == "0"
    assert time.time() - float(outbox.states()["session_changed"]) < 60


@pytest.mark.slow
def test_kiosk_syncd_process_exits_75_to_restart_into_the_new_release(
        device: DeviceConfig, kiosk_home: Path, tmp_path: Path, central: Central, central_home: Path,
        central_keys: CentralKeys, http: DashboardServer) -> None:
    import os

    root = tmp_path / "opt-street-kiosk"
    unpack_release(release_archive(tmp_path / "old.tar.gz", OLD), root / "releases", OLD)
    Releases(root).switch_to(OLD)
    pin_release_key(kiosk_home)
    env = {**os.environ, "KIOSK_OTA_ROOT": str(root)}

    def syncd() -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(BIN / "kiosk-syncd"), "--home", str(kiosk_home)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    first = syncd()
    try:
        wait_until(lambda: (central.store.device(device.device_id) or {}).get("status") == "online", timeout=20,
                   what="kiosk-syncd online")
        args = signed_update(central_home, "2.0.0", release_archive(tmp_path / "n.tar.gz", "2.0.0"),
                           base_url=http.url, health_timeout_s=60)
        command_id = send_command(central_keys, device.broker_url, device.device_id, "update", args).id
        assert first.wait(30) == 75  # switched: systemd's Restart= would start `current` now
    finally:
        if first.poll() is None:
            first.kill()
    assert Releases(root).current_version() == "2.0.0"
    second = syncd()
    try:
        wait_until(lambda: any(e["meta"].get("command_id") == command_id
                               for e in central.store.events("command_result")), timeout=30, what="the result")
        [result] = [e["meta"] for e in central.store.events("command_result")
                    if e["meta"].get("command_id") == command_id]
        assert (result["ok"], result["running_version"]) == (True, "2.0.0")
        assert second.poll() is None  # healthy: it keeps running
    finally:
        second.terminate()
        assert second.wait(15) == 0
