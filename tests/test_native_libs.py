"""packaging/native_libs.py on the real libraries the bundle collects (the venv's wheels and the system's), without
building the bundle (tests/test_packaging_bundle.py checks the built one): what may share one copy, what may not,
and which system libraries nothing needs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy
import PySide6

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(numpy.__file__).parents[1]
QT = Path(PySide6.__file__).parent / "Qt"


def load_native_libs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("native_libs", ROOT / "packaging" / "native_libs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["native_libs"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


native_libs = load_native_libs()


def one(folder: Path, prefix: str) -> Path:
    found = sorted(folder.glob(prefix + "*"))
    assert len(found) == 1, found
    return found[0]


def system_library(name: str) -> str:
    """The system's file for a SONAME, from the linker cache (as PyInstaller finds them)."""
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in cache.splitlines():
        if line.strip().startswith(name + " ") and "x86-64" in line:
            return line.split(" => ")[1].strip()
    raise AssertionError(f"{name} is not installed")


def test_library_names_group_by_library_and_soname_major() -> None:
    key = native_libs.library_key
    assert key("libjpeg-6dc8d115.so.62.4.0") == key("libjpeg.so.62") == ("libjpeg", "62")
    assert key("libgfortran-040039e1-0352e75f.so.5.0.0") == key("libgfortran-c796d592.so.5.0.0")
    assert key("libavcodec.so.61") != key("libavcodec-e863e0e1.so.63.1.102")  # FFmpeg 7 and 8: two ABIs
    assert key("cv2.abi3.so") is None


def test_a_copy_that_serves_the_other_is_kept_once_and_the_other_becomes_a_link() -> None:
    numpy_gfortran = one(SITE / "numpy.libs", "libgfortran-")
    opencv_gfortran = one(SITE / "opencv_python_headless.libs", "libgfortran-")
    qt_avcodec = QT / "lib" / "libavcodec.so.61"
    opencv_avcodec = one(SITE / "opencv_python_headless.libs", "libavcodec-")
    toc = [(f"numpy.libs/{numpy_gfortran.name}", str(numpy_gfortran), "BINARY"),
           (f"opencv_python_headless.libs/{opencv_gfortran.name}", str(opencv_gfortran), "BINARY"),
           ("PySide6/Qt/lib/libavcodec.so.61", str(qt_avcodec), "BINARY"),
           (f"opencv_python_headless.libs/{opencv_avcodec.name}", str(opencv_avcodec), "BINARY"),
           ("cv2/cv2.abi3.so", str(Path(cv2.__file__).parent / "cv2.abi3.so"), "EXTENSION")]
    out, found = native_libs.share_copies(toc)
    assert [g.key for g in found] == [("libgfortran", "5")]  # FFmpeg 7 and 8 are not even candidates
    assert found[0].keep == f"numpy.libs/{numpy_gfortran.name}", found[0].why
    assert out[1] == (f"opencv_python_headless.libs/{opencv_gfortran.name}",
                      f"../numpy.libs/{numpy_gfortran.name}", "SYMLINK")
    assert out[0] == toc[0] and out[2:] == toc[2:]
    # The proof itself: numpy's defines every version and export OpenCV's does (not the other way round here).
    kept, other = native_libs.Elf.read(str(numpy_gfortran)), native_libs.Elf.read(str(opencv_gfortran))
    assert kept.serves(other) == [] and kept.exports and kept.verdefs


def test_builds_whose_exports_differ_stay_two_and_say_why() -> None:
    pillow_jpeg = one(SITE / "pillow.libs", "libjpeg-")
    toc = [("libjpeg.so.62", system_library("libjpeg.so.62"), "BINARY"),
           (f"pillow.libs/{pillow_jpeg.name}", str(pillow_jpeg), "BINARY")]
    out, found = native_libs.share_copies(toc)
    assert out == toc and found[0].keep is None
    assert "jpeg_std_message_table" in found[0].why  # what Pillow's build lacks of the system's


def test_files_of_the_same_name_that_are_no_linked_library_are_never_shared(tmp_path: Path) -> None:
    # Two different Qt plugins under one name (plugins have no SONAME: loaded by path, they export the same two
    # plugin symbols, so "serves" alone would wrongly accept them), and one file collected under two names.
    gif, ico = QT / "plugins" / "imageformats" / "libqgif.so", QT / "plugins" / "imageformats" / "libqico.so"
    zstd = system_library("libzstd.so.1")
    toc = [("a/libqplugin.so", str(gif), "BINARY"), ("b/libqplugin.so", str(ico), "BINARY"),
           ("libzstd.so.1", zstd, "BINARY"), ("libzstd.so.1.5", zstd, "BINARY")]
    out, found = native_libs.share_copies(toc)
    why = {g.key: (g.keep, g.why) for g in found}
    assert why[("libqplugin", "")][0] is None and "not a linked library" in why[("libqplugin", "")][1]
    assert why[("libzstd", "1")] == ("libzstd.so.1", "byte-identical")
    assert out[:3] == toc[:3] and out[3] == ("libzstd.so.1.5", "libzstd.so.1", "SYMLINK")


def test_system_libraries_nothing_needs_are_left_out_until_none_is_left() -> None:
    qt_core = QT / "lib" / "libQt6Core.so.6"  # NEEDS libzstd.so.1
    toc = [("PySide6/Qt/lib/libQt6Core.so.6", str(qt_core), "BINARY"),
           ("libzstd.so.1", system_library("libzstd.so.1"), "BINARY"),
           ("libgtk-3.so.0", system_library("libgtk-3.so.0"), "BINARY"),  # needed by nothing here
           ("libgdk-3.so.0", system_library("libgdk-3.so.0"), "BINARY"),  # needed by GTK only
           ("libzbar.so.0", system_library("libzbar.so.0"), "BINARY"),  # needed by nothing, loaded by ctypes
           ("libgdk-3.so", "libgdk-3.so.0", "SYMLINK")]
    out, gone = native_libs.drop_unneeded(toc, keep={"libzbar.so.0"})
    assert [name for name, _size in gone] == ["libgdk-3.so.0", "libgtk-3.so.0"]
    assert all(size == os.path.getsize(system_library(name)) for name, size in gone)
    assert [dest for dest, _src, _kind in out] == ["PySide6/Qt/lib/libQt6Core.so.6", "libzstd.so.1", "libzbar.so.0"]
