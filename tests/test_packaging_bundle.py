"""The appliance bundle, built by packaging/build as CI builds it, run from the bundle (not from the venv):
its contents (Pinyin keyboard, FFmpeg backend, zbar, QML and catalogue, no WebEngine), ``kiosk selftest --json``
no central code (its table of contents), its system libraries covered by the .deb's Depends, and the real .deb
installed into a throwaway root and run from there."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.test_packaging_deb import ThrowawayRoot

# The first test pays for the module's bundle build (up to 900 s under load): the default 120 s timeout
# would cut the build off, so the module gets room for it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
COMMANDS = ("kiosk", "kiosk-syncd", "kiosk-scan")


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
    assert (internal / "drivers" / "face" / "converted" / "faceres.onnx").is_file()  # setup converts it (issue 20)
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


def test_the_shared_native_libraries_and_the_decoders_work_from_the_bundle(bundle: Path, tmp_path: Path) -> None:
    """One copy of each native library (packaging/native_libs.py): every library now loaded through another's
    copy is used once from the bundle: BLAS/LAPACK of numpy and OpenCV, PNG/JPEG/TIFF/WebP, FreeType from Pillow
    and Qt, Qt Multimedia's FFmpeg backend, and the three decoders the scanner uses on a real QR code."""
    result = subprocess.run([str(bundle / "street-kiosk"), "--native-check"], env=bare_env(tmp_path),
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    checks = json.loads(result.stdout)
    assert set(checks) == {"numpy_blas", "opencv_lapack", "opencv_png", "opencv_qr", "zxingcpp", "pyzbar",
                           "pillow_codecs", "pillow_freetype", "qt_text_and_ffmpeg"}
    assert {k: v for k, v in checks.items() if v is not True} == {} and result.returncode == 0, result.stderr[-2000:]


def test_modules_run_with_dash_m_as_the_ota_guard_needs(bundle: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(bundle / "street-kiosk"), "-m", "sync.ota", "status", "--root", str(tmp_path)],
                            env=bare_env(tmp_path), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["current"] is None
    unknown = subprocess.run([str(bundle / "street-kiosk"), "no-such-command"], env=bare_env(tmp_path),
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert unknown.returncode == 2 and "commands: kiosk" in unknown.stderr


def test_the_bundle_switches_a_package_release_through_the_health_gate(bundle: Path, tmp_path: Path) -> None:
    """What the .deb's postinst runs (sync.ota.adopt, tests/test_packaging_deb.py): from the frozen bundle, with the
    outbox schema read from the running release's own bundled scripts and nothing touched in the data folder."""
    from sync.ota.schema import code_head
    from sync.outbox.store import MIGRATIONS

    opt, home = tmp_path / "opt", tmp_path / "home"
    (opt / "releases").mkdir(parents=True)
    home.mkdir()
    for version in ("0.0.9", VERSION):
        subprocess.run(["cp", "-al", str(bundle), str(opt / "releases" / version)], check=True)
    (opt / "current").symlink_to("releases/0.0.9")
    result = subprocess.run([str(opt / "releases" / VERSION / "street-kiosk"), "-m", "sync.ota", "adopt", "--root",
                             str(opt), "--home", str(home), "--version", VERSION], env=bare_env(tmp_path),
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["current"] == VERSION == os.readlink(opt / "current").split("/")[-1]
    state = json.loads((opt / "ota_state.json").read_text(encoding="utf-8"))
    assert (state["phase"], state["previous"], state["extra"]["source"]) == ("switched", "0.0.9", "dpkg")
    assert state["extra"]["schema"]["head"] == code_head(MIGRATIONS)
    assert state["extra"]["schema"]["db"] == str(home / "outbox.db")
    assert list(home.iterdir()) == []


def test_selftest_runs_from_the_bundle(bundle: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(bundle / "kiosk"), "selftest", "--sim", "--json", "--home", str(tmp_path / "home")],
                            env=bare_env(tmp_path), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert {r["driver"] for r in reports} >= {"camera.scanner", "idcard", "printer"}
    assert all(r["ok"] for r in reports), reports


def bundled_modules(bundle: Path) -> set[str]:
    """Every entry of the bundle's table of contents: the executable's archive and the PYZ of frozen modules in
    it (PyInstaller's own reader, as pyi-archive_viewer lists them)."""
    from PyInstaller.archive.readers import pkg_archive_contents

    return set(pkg_archive_contents(str(bundle / "street-kiosk"), recursive=True))


def test_the_bundle_holds_no_central_and_no_development_tools(bundle: Path, tmp_path: Path) -> None:
    modules = bundled_modules(bundle)
    assert {"kiosk.cli", "sync.daemon.cli", "sync.protocol.envelope", "drivers.scan_cli"} <= modules
    # The central platform (its CA, dashboard, ingest), its web stack and the simulators ship on no kiosk.
    shipped = sorted(m for m in modules if m.split(".")[0] in {"central", "devtools", "fastapi", "uvicorn"})
    assert shipped == []
    internal = bundle / "_internal"
    assert not (internal / "central").exists() and not (internal / "devtools").exists()
    assert not (bundle / "kiosk-central").exists() and not (bundle / "kiosk-sim").exists()
    # `kiosk demo` is a development tool: from the bundle it says so instead of failing obscurely.
    demo = subprocess.run([str(bundle / "kiosk"), "demo", "--headless", "--output", str(tmp_path / "shots")],
                          env=bare_env(tmp_path), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert demo.returncode == 2 and "development tool" in demo.stderr, demo.stderr[-2000:]


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


# -- the table of contents against an allowed list (issue 17 finding 10) -----------------------------------------
# A new entry here is a decision: the kiosk needs it (say why in the commit), or the spec keeps it out.
QT_LIBS = {
    "Concurrent", "Core", "DBus", "EglFSDeviceIntegration", "EglFsKmsSupport", "FFmpegStub-crypto", "FFmpegStub-ssl",
    "FFmpegStub-va-drm", "FFmpegStub-va-x11", "FFmpegStub-va", "Gui", "LabsAnimation", "LabsFolderListModel",
    "LabsPlatform", "LabsQmlModels", "LabsSettings", "LabsSharedImage", "LabsSynchronizer", "LabsWavefrontMesh",
    "Multimedia", "MultimediaQuick", "MultimediaWidgets", "Network", "OpenGL", "OpenGLWidgets", "Qml", "QmlCore",
    "QmlMeta", "QmlModels", "QmlNetwork", "QmlWorkerScript", "QmlXmlListModel", "Quick", "QuickControls2",
    "QuickControls2Basic", "QuickControls2BasicStyleImpl", "QuickControls2Fusion", "QuickControls2FusionStyleImpl",
    "QuickControls2Impl", "QuickDialogs2", "QuickDialogs2QuickImpl", "QuickDialogs2Utils", "QuickEffects",
    "QuickLayouts", "QuickParticles", "QuickShapes", "QuickShapesDesignHelpers", "QuickTemplates2", "QuickTimeline",
    "QuickTimelineBlendTrees", "QuickVectorImage", "QuickVectorImageGenerator", "QuickVectorImageHelpers",
    "StateMachine", "StateMachineQml", "Svg", "Test", "TextToSpeech", "VirtualKeyboard", "VirtualKeyboardQml",
    "VirtualKeyboardSettings", "WaylandClient", "Widgets", "WlShellIntegration", "XcbQpa",
}
QML_MODULES = {
    "Qt", "Qt/labs", "Qt/labs/animation", "Qt/labs/assetdownloader", "Qt/labs/folderlistmodel", "Qt/labs/platform",
    "Qt/labs/qmlmodels", "Qt/labs/settings", "Qt/labs/sharedimage", "Qt/labs/synchronizer", "Qt/labs/wavefrontmesh",
    "QtCore", "QtMultimedia", "QtNetwork", "QtQml", "QtQml/Models", "QtQml/StateMachine", "QtQml/WorkerScript",
    "QtQml/XmlListModel", "QtQuick", "QtQuick/Controls", "QtQuick/Controls/Basic", "QtQuick/Controls/Fusion",
    "QtQuick/Controls/impl", "QtQuick/Dialogs", "QtQuick/Dialogs/quickimpl", "QtQuick/Effects", "QtQuick/Layouts",
    "QtQuick/Particles", "QtQuick/Shapes", "QtQuick/Shapes/DesignHelpers", "QtQuick/Templates", "QtQuick/Timeline",
    "QtQuick/Timeline/BlendTrees", "QtQuick/VectorImage", "QtQuick/VectorImage/Helpers", "QtQuick/VirtualKeyboard",
    "QtQuick/VirtualKeyboard/Components", "QtQuick/VirtualKeyboard/Core", "QtQuick/VirtualKeyboard/Layouts",
    "QtQuick/VirtualKeyboard/Plugins", "QtQuick/VirtualKeyboard/Settings", "QtQuick/VirtualKeyboard/Styles",
    "QtQuick/Window", "QtQuick/tooling", "QtTextToSpeech", "QtWayland", "QtWayland/Client",
    "QtWayland/Client/TextureSharing",
}
PACKAGES = {  # folders at the top of _internal: Python packages and the wheels' library folders
    "PIL", "PySide6", "_argon2_cffi_bindings", "certifi", "charset_normalizer", "cryptography", "cv2", "drivers",
    "face_recognition_models",
    "jsonschema", "jsonschema_specifications", "kiosk", "markupsafe", "nacl", "numpy", "numpy.libs", "onnxruntime",
    "opencv_python_headless.libs", "pillow.libs", "pyclipper", "pypinyin", "python3.11", "rapidocr", "rpds",
    "shapely", "shapely.libs", "shiboken6", "sqlalchemy", "sync", "yaml", "zxingcpp",
}
# Native libraries that still ship twice (issue 17 finding 10). packaging/native_libs.py (run by the spec) makes
# every other library one file (the rest are symlinks to it); these it keeps apart because they differ and neither
# copy serves the other's users (see docs/BENCHMARKS.md): Qt's FFmpeg 7 (libavcodec.so.61...) and OpenCV's FFmpeg 8
# (.so.63...), numpy's 64-bit-integer OpenBLAS (scipy_*64_ symbols) and OpenCV's, and the libavif and
# libjpeg builds whose exports differ. The list only shrinks: any other library must ship once.
KNOWN_TWICE = {"libavcodec", "libavformat", "libavif", "libavutil", "libjpeg", "libopenblas", "libswresample",
               "libswscale"}
# Loaded by name, not through any file's NEEDED: zbar by ctypes (pyzbar), Python by PyInstaller's bootloader.
LOADED_BY_NAME = {"libzbar.so.0", f"libpython{sys.version_info.major}.{sys.version_info.minor}.so.1.0"}
# 640 MiB before the Qt trim (issue 17 finding 10), 612 after, 601.9 with one copy of each library, 583.3 without
# the system libraries nothing needs (same sources each time; docs/BENCHMARKS.md); then the face check (issue 20)
# adds dlib (10.5 MiB) and its two CC0 models (30.2 MiB): about 624 MiB; its second descriptor (HSE FaceRec,
# ONNX, 12.2 MiB) about 636 MiB.
MAX_BUNDLE_MIB = 645


def _library(name: str) -> str:
    """A shared library's name without hash, version and ABI: libavcodec-e863e0e1.so.63.1.102 -> libavcodec."""
    stem = name.split(".so")[0]
    stem = re.sub(r"-[0-9a-f]{8}$", "", re.sub(r"-[0-9a-f]{8}(?=-)", "", stem))
    stem = re.sub(r"(openblas)\S*$", r"\1", re.sub(r"^libscipy_", "lib", stem))
    return stem


def test_the_table_of_contents_holds_only_what_is_allowed(bundle: Path, built: Path) -> None:
    internal = bundle / "_internal"
    qt = internal / "PySide6" / "Qt"
    libs = {re.sub(r"^libQt6|\.so\.\d+$", "", p.name) for p in (qt / "lib").glob("libQt6*")}
    assert libs - QT_LIBS == set(), "Qt libraries not on the allowed list"
    assert QT_LIBS - libs == set(), "allowed Qt libraries missing (update the list)"
    qml = {str(p.relative_to(qt / "qml")) for p in (qt / "qml").rglob("*") if p.is_dir()
           and len(p.relative_to(qt / "qml").parts) <= 3}
    assert qml - QML_MODULES == set(), "QML modules not on the allowed list"
    folders = {p.name for p in internal.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")}
    assert folders - PACKAGES == set(), "folders not on the allowed list"
    assert not list((bundle / "_internal" / "kiosk" / "qml").rglob("tst_*.qml"))  # QML tests stay home
    copies: dict[str, list[str]] = {}
    for p in internal.rglob("*.so*"):
        if p.is_file() and not p.is_symlink() and p.name.startswith("lib") and ".so" in p.name:
            copies.setdefault(_library(p.name), []).append(str(p.relative_to(internal)))
    twice = {name for name, where in copies.items() if len(where) > 1}
    assert twice <= KNOWN_TWICE, {n: copies[n] for n in twice - KNOWN_TWICE}
    digests: dict[str, list[str]] = {}  # and no two library files alike, whatever their names
    for p in internal.rglob("*.so*"):
        if p.is_file() and not p.is_symlink():
            digests.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), []).append(str(p.relative_to(internal)))
    assert [names for names in digests.values() if len(names) > 1] == []
    inside = bundle.resolve()
    dangling = [str(p) for p in bundle.rglob("*")
                if p.is_symlink() and (not p.exists() or not p.resolve().is_relative_to(inside))]
    assert dangling == []  # each shared copy's other names lead to it, inside the bundle
    # No library that nothing loads (PyInstaller collects the dependencies of files the spec then leaves out).
    needed: set[str] = set()
    for path in elf_files(bundle):
        dump = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True).stdout
        needed |= {line.split()[1] for line in dump.splitlines() if line.strip().startswith("NEEDED")}
    names: dict[Path, set[str]] = {p.resolve(): {p.name} for p in internal.glob("lib*.so*") if not p.is_symlink()}
    for link in internal.rglob("lib*.so*"):
        if link.is_symlink() and link.resolve() in names:
            names[link.resolve()].add(link.name)
    unneeded = sorted(p.name for p, known in names.items() if not known & (needed | LOADED_BY_NAME))
    assert unneeded == []
    size = json.loads((built / "street-kiosk.build.json").read_text(encoding="utf-8"))["bytes"]
    assert size <= MAX_BUNDLE_MIB * 2**20, f"the bundle grew to {size / 2**20:.0f} MiB"


def test_the_bundle_ships_a_health_script_that_catches_a_release_without_its_qml(bundle: Path, tmp_path: Path) -> None:
    """Issue 17 finding 1: the build shipped no health script, so a bundle with no app QML counted as healthy."""
    release = tmp_path / "releases" / VERSION  # as sync.ota and the .deb install it: the folder is the version
    release.parent.mkdir()
    subprocess.run(["cp", "-al", str(bundle), str(release)], check=True)  # hard links: quick, and deletable
    result = subprocess.run([str(release / "health")], env=bare_env(tmp_path), capture_output=True, text=True,
                            timeout=60, cwd=release)
    assert (result.returncode, result.stdout.strip()) == (0, "selfcheck: ok"), result.stdout + result.stderr
    (release / "_internal" / "kiosk" / "qml" / "Main.qml").unlink()
    result = subprocess.run([str(release / "health")], env=bare_env(tmp_path), capture_output=True, text=True,
                            timeout=60, cwd=release)
    assert result.returncode == 1 and "Main.qml is missing" in result.stdout
