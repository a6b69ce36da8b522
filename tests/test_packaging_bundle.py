"""The appliance bundle, built by packaging/build as CI builds it, run from the bundle (not from the venv):
its contents (Pinyin keyboard, FFmpeg backend, zbar, QML and catalogue, no WebEngine), ``kiosk selftest --json``
and the headless demo journey offscreen, its system libraries covered by the .deb's Depends, and the real .deb
installed into a throwaway root and run from there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.test_packaging_deb import ThrowawayRoot

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
COMMANDS = ("kiosk", "kiosk-syncd", "kiosk-central", "kiosk-scan", "kiosk-sim")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    result = subprocess.run([str(ROOT / "packaging" / "build"), "--venv", str(ROOT / ".venv"), "--out", str(out)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads((out / "street-kiosk.build.json").read_text(encoding="utf-8"))
    print(f"\nbundle: {figures['bytes'] / 2**20:.0f} MiB, {figures['files']} files, {figures['build_seconds']} s")
    return out


@pytest.fixture(scope="module")
def bundle(built: Path) -> Path:
    return built / "street-kiosk"


def bare_env(home: Path) -> dict[str, str]:
    """No venv, no source tree on any path: only what the bundle carries (and the system's mosquitto)."""
    return {"PATH": "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
            "LANG": os.environ.get("LANG", "C.UTF-8"), "LC_ALL": os.environ.get("LC_ALL", "C.UTF-8")}


def test_the_bundle_holds_what_the_kiosk_loads_and_no_webengine(bundle: Path) -> None:
    internal = bundle / "_internal"
    qt = internal / "PySide6" / "Qt"
    for rel in ("plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
                "qml/QtQuick/VirtualKeyboard/Plugins/Pinyin/libqtvkbpinyinplugin.so",
                "plugins/multimedia/libffmpegmediaplugin.so", "plugins/platforms/libqwayland.so",
                "plugins/platforms/libqoffscreen.so"):
        assert (qt / rel).is_file(), rel
    assert (internal / "libzbar.so.0").is_file()
    assert (internal / "kiosk" / "qml" / "Main.qml").is_file()
    assert (internal / "kiosk" / "catalog" / "default_catalog.json").is_file()
    assert list((internal / "sync" / "outbox" / "migrations" / "versions").glob("0001_*.py"))
    assert (internal / "rapidocr" / "models").is_dir()
    webengine = [p for p in bundle.rglob("*") if "webengine" in p.name.lower()]
    assert webengine == []
    for cmd in COMMANDS:
        assert os.readlink(bundle / cmd) == "street-kiosk"
    assert os.access(bundle / "kiosk-session", os.X_OK)
    info = json.loads((bundle / "BUILD-INFO.json").read_text(encoding="utf-8"))
    assert info["version"] == VERSION == (bundle / "VERSION").read_text(encoding="utf-8").strip()


def test_the_bundle_loads_its_own_zbar_and_plugins(bundle: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(bundle / "street-kiosk"), "--bundle-info"], env=bare_env(tmp_path),
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["frozen"] is True and info["version"] == VERSION
    assert Path(info["zbar"]).resolve() == (bundle / "_internal" / "libzbar.so.0").resolve()
    assert info["ffmpeg_backend"] and info["virtual_keyboard"] and info["pinyin"]


def test_modules_run_with_dash_m_as_the_ota_guard_needs(bundle: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(bundle / "street-kiosk"), "-m", "sync.ota", "status", "--root", str(tmp_path)],
                            env=bare_env(tmp_path), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["current"] is None
    unknown = subprocess.run([str(bundle / "street-kiosk"), "no-such-command"], env=bare_env(tmp_path),
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert unknown.returncode == 2 and "commands: kiosk" in unknown.stderr


def test_selftest_runs_from_the_bundle(bundle: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(bundle / "kiosk"), "selftest", "--sim", "--json", "--home", str(tmp_path / "home")],
                            env=bare_env(tmp_path), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert {r["driver"] for r in reports} >= {"camera.scanner", "idcard", "printer"}
    assert all(r["ok"] for r in reports), reports


def test_the_headless_demo_journey_runs_from_the_bundle(bundle: Path, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    result = subprocess.run([str(bundle / "kiosk"), "demo", "--headless", "--output", str(shots)],
                            env=bare_env(tmp_path), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The central (started by the demo as `street-kiosk -m sync.central.cli`) stored the submission.
    assert "the central's record" in result.stdout
    record = json.loads(result.stdout.split("(personal data masked):", 1)[1])
    assert record and record[0]["device_id"] == "demo-kiosk-01"
    assert len(list(shots.glob("*.png"))) >= 8


def elf_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF"]


def test_every_library_the_bundle_needs_from_the_system_is_in_the_debs_depends(bundle: Path) -> None:
    inside = {p.name for p in bundle.rglob("*") if p.is_file() or p.is_symlink()}
    needed: set[str] = set()
    for path in elf_files(bundle):
        dump = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True).stdout
        needed |= {line.split()[1] for line in dump.splitlines() if line.strip().startswith("NEEDED")}
    external = sorted(needed - inside)
    control = (ROOT / "packaging" / "deb" / "control").read_text(encoding="utf-8")
    depends_line = next(line for line in control.splitlines() if line.startswith("Depends:"))
    depends = {d.strip().split()[0] for d in depends_line.removeprefix("Depends:").split(",")}
    missing = {}
    for lib in external:
        owner = subprocess.run(["dpkg", "-S", f"*/{lib}"], capture_output=True, text=True).stdout.split(":")[0]
        if owner not in depends:
            missing[lib] = owner or "(no package on this machine)"
    assert missing == {}


def test_the_real_deb_installs_and_runs_from_the_installed_tree(built: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(ROOT / "packaging" / "build-deb"), "--bundle", str(built / "street-kiosk"),
                             "--out", str(built), "--compress", "none"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    deb = built / f"street-kiosk_{VERSION}_amd64.deb"
    root = ThrowawayRoot(tmp_path / "root")
    try:
        done = root.dpkg("--install", str(deb))
        assert done.returncode == 0, done.stderr
        kiosk = root / "opt/street-kiosk/current/kiosk"
        assert kiosk.exists()
        home = tmp_path / "home"
        selftest = subprocess.run([str(kiosk), "selftest", "--sim", "--json", "--home", str(home)],
                                  env=bare_env(tmp_path), capture_output=True, text=True, timeout=120)
        assert selftest.returncode == 0, selftest.stderr
        assert all(r["ok"] for r in json.loads(selftest.stdout))
        status = subprocess.run([str(kiosk), "status", "--json", "--home", str(home)], env=bare_env(tmp_path),
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["outbox"]["pending"] == 0
    finally:
        shutil.rmtree(root.path, ignore_errors=True)
        deb.unlink(missing_ok=True)
