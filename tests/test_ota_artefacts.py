"""OTA artefacts a field technician can trust (issue 17, findings 6 and 7): ``packaging/release`` builds a signed,
reproducible artefact the central sends on as it is; a download that breaks off resumes where it stopped; the
space an update needs is checked before anything is written; only the current, the previous and the installing
release are kept."""

from __future__ import annotations

import functools
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from central.keys import CentralKeys
from central.web.server import DashboardServer
from sync.ota.download import DownloadError, download, part_path
from sync.ota.install import unpack_release
from sync.ota.manager import OtaManager
from sync.ota.switch import Releases
from sync.ota.trust import ReleaseTrust
from sync.outbox.store import Outbox
from tests import test_ota
from tests.test_ota import BIN, OLD, RELEASE_KEY, Kiosk, _send, release_archive, signed_update

central_home, http, kiosk = test_ota.central_home, test_ota.http, test_ota.kiosk  # the OTA tests' fixtures
ROOT = Path(__file__).resolve().parents[1]
RELEASE_TOOL = ROOT / "packaging" / "release"


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RELEASE_TOOL), *args], capture_output=True, text=True, timeout=120)


def fake_bundle(folder: Path, version: str) -> Path:
    """What packaging/build leaves, in miniature: VERSION, the health script, an executable."""
    folder.mkdir(parents=True)
    (folder / "VERSION").write_text(f"{version}\n", encoding="utf-8")
    for name, text in (("health", "#!/bin/sh\nexit 0\n"), ("street-kiosk", "#!/bin/sh\necho kiosk\n")):
        (folder / name).write_text(text, encoding="utf-8")
        (folder / name).chmod(0o755)
    (folder / "_internal").mkdir()
    (folder / "_internal" / "lib.so").write_bytes(os.urandom(4096))
    return folder


def test_the_release_tool_builds_a_reproducible_signed_artefact_the_kiosk_installs(
        kiosk: Kiosk, tmp_path: Path, central_home: Path, http: DashboardServer) -> None:
    keys = tmp_path / "offline"
    out = tool("key", "new", "--out", str(keys))
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE((keys / "release-key.private").stat().st_mode) == 0o600
    assert tool("key", "new", "--out", str(keys)).returncode != 0  # a key is never overwritten
    ReleaseTrust(kiosk.home).rotate(json.loads(_rotation(keys, tmp_path)))  # this kiosk now trusts the new key

    bundle = fake_bundle(tmp_path / "dist" / "street-kiosk", "2.0.0")
    built = [tool("build", "--bundle", str(bundle), "--key", str(keys / "release-key.private"),
                  "--out", str(tmp_path / f"out{i}")) for i in (1, 2)]
    assert all(b.returncode == 0 for b in built), built[0].stderr
    first, second = (json.loads(b.stdout) for b in built)
    assert Path(first["artefact"]).read_bytes() == Path(second["artefact"]).read_bytes()  # reproducible
    artefact = Path(first["artefact"])
    assert tool("verify", "--pub", str(keys / "release-key.pub"), str(artefact)).returncode == 0
    assert tool("verify", "--pub", str(_other_pub(tmp_path)), str(artefact)).returncode == 1

    # The central sends it on as built (it holds no release key): kiosk-central finds the manifest beside it.
    sent = subprocess.run([str(BIN / "kiosk-central"), "command", kiosk.device.device_id, "update", "--version",
                           "2.0.0", "--artifact", str(artefact), "--base-url", http.url, "--broker",
                           kiosk.device.broker_url, "--home", str(central_home), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["args"]["unpacked_size"] == first["unpacked_bytes"]
    kiosk.reboot()
    result = kiosk.result(json.loads(sent.stdout)["command_id"])
    assert (result["ok"], result["running_version"]) == (True, "2.0.0")
    installed = kiosk.releases.path("2.0.0")
    assert (installed / "_internal" / "lib.so").read_bytes() == (bundle / "_internal" / "lib.so").read_bytes()
    assert os.access(installed / "street-kiosk", os.X_OK)


def _rotation(keys: Path, tmp_path: Path) -> str:
    """The test kiosks pin tests/test_ota.py's key: certify the tool's new key with it."""
    old = tmp_path / "old.private"
    old.write_text(__import__("base64").b64encode(RELEASE_KEY.private_bytes_raw()).decode(), encoding="ascii")
    old.chmod(0o600)
    cert = tmp_path / "rotation.json"
    out = tool("key", "rotate", "--old", str(old), "--new", str(keys / "release-key.pub"), "--out", str(cert))
    assert out.returncode == 0, out.stderr
    return cert.read_text(encoding="ascii")


def _other_pub(tmp_path: Path) -> Path:
    assert tool("key", "new", "--out", str(tmp_path / "other")).returncode == 0
    return tmp_path / "other" / "release-key.pub"


class FlakyHandler(SimpleHTTPRequestHandler):
    """Serves files with Range support; the first full request is cut off after ``cut`` bytes."""

    cut = 0
    ranges: ClassVar[list[str | None]] = []
    served = 0

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        wanted = self.headers.get("Range")
        type(self).ranges.append(wanted)
        start = int(wanted.split("=")[1].rstrip("-")) if wanted else 0
        body = data[start:]
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not wanted and type(self).cut:
            body, type(self).cut = body[:type(self).cut], 0  # the connection drops half way
        self.wfile.write(body)
        type(self).served += len(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "served"
    folder.mkdir()
    FlakyHandler.ranges, FlakyHandler.served = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(FlakyHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_broken_download_resumes_where_it_stopped(flaky: tuple[Path, str], tmp_path: Path) -> None:
    folder, url = flaky
    data = os.urandom(3 * 1024 * 1024)
    (folder / "a.bin").write_bytes(data)
    FlakyHandler.cut = 1024 * 1024
    dest = tmp_path / "downloads" / "sha.artifact"
    with pytest.raises(DownloadError, match="resumes"):
        download(f"{url}/a.bin", dest, max_bytes=len(data))
    assert part_path(dest).stat().st_size == 1024 * 1024 and not dest.exists()
    sha, size = download(f"{url}/a.bin", dest, max_bytes=len(data))
    assert dest.read_bytes() == data and size == len(data)
    assert sha == __import__("hashlib").sha256(data).hexdigest()
    assert FlakyHandler.ranges == [None, f"bytes={1024 * 1024}-"]
    assert FlakyHandler.served == len(data)  # nothing fetched twice


def test_the_manager_resumes_a_broken_download_by_itself(kiosk: Kiosk, tmp_path: Path, central_home: Path,
                                                         central_keys: CentralKeys, http: DashboardServer,
                                                         flaky: tuple[Path, str]) -> None:
    folder, url = flaky
    artefact = release_archive(tmp_path / "n.tar.gz", "2.0.0", extra={"blob": os.urandom(600_000)})
    args = signed_update(central_home, "2.0.0", artefact, base_url=http.url)
    (folder / "n.tar.gz").write_bytes(artefact.read_bytes())
    FlakyHandler.cut = 200_000
    command_id = _send(kiosk, central_keys, {**args, "url": f"{url}/n.tar.gz"})
    kiosk.reboot()
    assert kiosk.result(command_id)["ok"] is True
    assert FlakyHandler.ranges == [None, "bytes=200000-"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB filesystem (tmpfs) for the OTA root."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs these as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_space_is_checked_before_anything_is_written(small_disk: Path, outbox: Outbox, tmp_path: Path,
                                                    flaky: tuple[Path, str]) -> None:
    folder, url = flaky
    releases = Releases(small_disk)
    unpack_release(release_archive(tmp_path / "old.tar.gz", OLD), releases.dir, OLD, margin=0)
    releases.switch_to(OLD)
    trust = ReleaseTrust(tmp_path / "trust")
    trust.pin(RELEASE_KEY.public_key().public_bytes_raw())
    reports: list[dict[str, Any]] = []
    manager = OtaManager(releases, outbox, trust=trust, restart=lambda: None, poll_s=0.05, space_margin=256 * 1024,
                         report=lambda *a: reports.append({"ok": a[2], "reason": a[3], "detail": a[4], **(a[5] or {})}))
    home = tmp_path / "central"
    home.mkdir()

    # The manifest says it unpacks to 8 MiB: refused before a byte is downloaded.
    artefact = release_archive(tmp_path / "big.tar.gz", "2.0.0")
    (folder / "big.tar.gz").write_bytes(artefact.read_bytes())
    args = {**signed_update(home, "2.0.0", artefact, base_url=url), "url": f"{url}/big.tar.gz",
            "unpacked_size": 8 * 1024 * 1024}
    manager.start_update("0190a0a0-0000-7000-8000-0000000000c1", args)
    manager.join(30)
    assert (reports[-1]["reason"], reports[-1]["stage"]) == ("refused", "space")
    assert "not enough disk space" in reports[-1]["detail"] and FlakyHandler.ranges == []
    assert not (small_disk / "downloads").exists() or not any((small_disk / "downloads").iterdir())

    # No figure given: the small download fits, but its 6 MiB of zeros would not: refused before unpacking.
    zeros = tmp_path / "zeros.tar.gz"
    with tarfile.open(zeros, "w:gz") as tar:
        for name, data in (("VERSION", b"3.0.0\n"), ("blob", bytes(6 * 1024 * 1024))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (folder / "zeros.tar.gz").write_bytes(zeros.read_bytes())
    args = {**signed_update(home, "3.0.0", zeros, base_url=url), "url": f"{url}/zeros.tar.gz"}
    manager.start_update("0190a0a0-0000-7000-8000-0000000000c2", args)
    manager.join(30)
    assert (reports[-1]["reason"], reports[-1]["stage"]) == ("refused", "install"), reports[-1]
    assert "not enough disk space" in reports[-1]["detail"]
    assert releases.installed() == [OLD] and not any(p.name.startswith(".") for p in releases.dir.iterdir())


def test_only_the_current_previous_and_installing_releases_are_kept(
        kiosk: Kiosk, tmp_path: Path, central_home: Path, central_keys: CentralKeys, http: DashboardServer) -> None:
    def update(version: str, *, healthy: bool = True) -> dict[str, Any]:
        args = signed_update(central_home, version, release_archive(tmp_path / f"{version}.tar.gz", version,
                                                                    healthy=healthy), base_url=http.url)
        command_id = _send(kiosk, central_keys, args)
        kiosk.reboot()  # switched: restart into it
        if not healthy:
            kiosk.reboot()  # rolled back: restart into the old one
        return kiosk.result(command_id)

    assert update("2.0.0")["ok"] is True
    assert kiosk.releases.installed() == [OLD, "2.0.0"]
    assert update("3.0.0", healthy=False)["reason"] == "rolled_back"
    assert kiosk.releases.installed() == [OLD, "2.0.0"]  # the rolled-back release is gone
    assert update("4.0.0")["ok"] is True
    assert kiosk.releases.installed() == ["2.0.0", "4.0.0"]
    assert update("5.0.0")["ok"] is True
    assert kiosk.releases.installed() == ["4.0.0", "5.0.0"] and kiosk.releases.previous_version() == "4.0.0"


def _stamp(folder: Path, when: int = 1790000000) -> None:
    """What packaging/build does: every file's time is SOURCE_DATE_EPOCH."""
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (when, when), follow_symlinks=False)


def test_a_delta_update_rebuilds_the_release_from_the_installed_one(
        kiosk: Kiosk, tmp_path: Path, central_home: Path, central_keys: CentralKeys, http: DashboardServer) -> None:
    """Issue 17 finding 9: every update was the full bundle. A delta (zstd --patch-from against the release the
    kiosk has installed) carries only what changed; the kiosk rebuilds the new release and checks its signature."""
    key = tmp_path / "release-key.private"
    key.write_text(__import__("base64").b64encode(RELEASE_KEY.private_bytes_raw()).decode(), encoding="ascii")
    key.chmod(0o600)

    def central_update(artefact: Path, version: str) -> dict[str, Any]:
        sent = subprocess.run([str(BIN / "kiosk-central"), "command", kiosk.device.device_id, "update", "--version",
                               version, "--artifact", str(artefact), "--base-url", http.url, "--broker",
                               kiosk.device.broker_url, "--home", str(central_home), "--json"],
                              capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        return dict(json.loads(sent.stdout))

    two = fake_bundle(tmp_path / "b2" / "street-kiosk", "2.0.0")
    (two / "_internal" / "big.so").write_bytes(os.urandom(2 * 1024 * 1024))
    _stamp(two)
    full = json.loads(tool("build", "--bundle", str(two), "--key", str(key), "--out", str(tmp_path / "o2")).stdout)
    sent = central_update(Path(full["artefact"]), "2.0.0")
    kiosk.reboot()
    assert kiosk.result(sent["command_id"])["ok"] is True

    three = tmp_path / "b3" / "street-kiosk"
    three.parent.mkdir()
    subprocess.run(["cp", "-a", str(two), str(three.parent)], check=True)
    (three / "VERSION").write_text("3.0.0\n", encoding="utf-8")
    (three / "street-kiosk").write_text("#!/bin/sh\necho kiosk 3\n", encoding="utf-8")
    _stamp(three)
    made = tool("delta", "--bundle", str(three), "--base", str(two), "--key", str(key), "--out", str(tmp_path / "o3"))
    assert made.returncode == 0, made.stderr
    delta = json.loads(made.stdout)
    assert delta["bytes"] < full["bytes"] / 20  # a few KiB against a 2 MiB release
    sent = central_update(Path(delta["artefact"]), "3.0.0")
    assert sent["args"]["delta"]["base"] == "2.0.0"
    kiosk.reboot()
    result = kiosk.result(sent["command_id"])
    assert (result["ok"], result["running_version"]) == (True, "3.0.0"), result
    installed = kiosk.releases.path("3.0.0")
    assert (installed / "street-kiosk").read_text(encoding="utf-8") == "#!/bin/sh\necho kiosk 3\n"
    assert (installed / "_internal" / "big.so").read_bytes() == (two / "_internal" / "big.so").read_bytes()

    # A delta made against a release this kiosk does not have is refused; nothing changes.
    other = fake_bundle(tmp_path / "b9" / "street-kiosk", "9.0.0")
    _stamp(other)
    four = tmp_path / "b4" / "street-kiosk"
    four.parent.mkdir()
    subprocess.run(["cp", "-a", str(three), str(four.parent)], check=True)
    (four / "VERSION").write_text("4.0.0\n", encoding="utf-8")
    _stamp(four)
    bad = json.loads(tool("delta", "--bundle", str(four), "--base", str(other), "--key", str(key),
                          "--out", str(tmp_path / "o4")).stdout)
    result = kiosk.result(central_update(Path(bad["artefact"]), "4.0.0")["command_id"])
    assert (result["reason"], result["stage"]) == ("refused", "patch") and "not installed" in result["detail"]
    assert kiosk.releases.current_version() == "3.0.0"
