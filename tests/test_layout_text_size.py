"""The elder-mode text-size rule is in points (18 pt text, 30 pt screen titles): the layout check converts it
with the screen's logical DPI, so a label is measured against the screen it is shown on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtQml import QQmlComponent, QQmlEngine
from PySide6.QtQuick import QQuickWindow

from kiosk.layout_checks import check_window, logical_dpi, pt_to_px

PROBE = b"""
import QtQuick
import QtQuick.Controls
Window {
    width: 800; height: 600; visible: true; color: "white"
    Label { objectName: "px23"; y: 0; text: "23 px"; font.pixelSize: 23; color: "black" }
    Label { objectName: "px24"; y: 40; text: "24 px"; font.pixelSize: 24; color: "black" }
    Label { objectName: "pt17"; y: 80; text: "17 pt"; font.pointSize: 17; color: "black" }
    Label { objectName: "pt18"; y: 130; text: "18 pt"; font.pointSize: 18; color: "black" }
    Label { objectName: "title39"; y: 180; text: "title"; font.pixelSize: 39; color: "black"
            readonly property bool screenTitle: true }
    Label { objectName: "title40"; y: 240; text: "title"; font.pixelSize: 40; color: "black"
            readonly property bool screenTitle: true }
}
"""


def small_texts(elder: bool = True) -> tuple[float, set[str]]:
    engine = QQmlEngine()
    component = QQmlComponent(engine)
    component.setData(PROBE, QUrl())
    window = component.create()
    assert isinstance(window, QQuickWindow), component.errorString()
    try:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.processEvents()
        names = {v.item.split(" ")[0].split("/")[-1] for v in check_window(window, elder=elder)
                 if v.check == "small_text"}
        return logical_dpi(window), names
    finally:
        window.close()
        window.deleteLater()


def test_the_rule_is_in_points_at_the_screens_dpi(qapp: Any) -> None:
    dpi, small = small_texts()
    assert pt_to_px(18, 96) == 24 and pt_to_px(30, 96) == 40
    if dpi == 96:
        assert small == {"px23", "pt17", "title39"}  # 24 px is 18 pt at 96 DPI; 40 px is 30 pt
    assert small_texts(elder=False)[1] == set()  # standard mode has no text minimum


def test_a_denser_screen_needs_more_pixels_for_the_same_points(tmp_path: Path) -> None:
    """On a screen of 144 logical DPI (Qt's offscreen platform configured so, high-DPI scaling off), 18 pt is
    36 px: the 24 px label that passes at 96 DPI is now too small, while labels sized in points still pass."""
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "dense", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                               "logicalDpi": 144, "logicalBaseDpi": 96, "dpr": 1}]}))
    code = ("import json; from PySide6.QtGui import QGuiApplication; app = QGuiApplication([]); "
            "from tests.test_layout_text_size import small_texts; dpi, small = small_texts(); "
            "print(json.dumps([dpi, sorted(small)]))")
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "QT_ENABLE_HIGHDPI_SCALING": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                         check=True)
    dpi, small = json.loads(out.stdout.strip().splitlines()[-1])
    assert dpi == 144
    assert set(small) == {"px23", "px24", "pt17", "title39", "title40"}
