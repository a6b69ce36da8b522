"""The UI's fonts draw Chinese: a fresh Debian has only DejaVu, which renders boxes."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontInfo, QImage, QPainter

from kiosk.app import FONT_FAMILIES, ensure_application


def _render(font: QFont, text: str) -> QImage:
    img = QImage(72, 72, QImage.Format.Format_ARGB32)
    img.fill(QColor("white"))
    painter = QPainter(img)
    painter.setFont(font)
    painter.setPen(QColor("black"))
    painter.drawText(QRect(0, 0, 72, 72), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return img


def test_a_cjk_font_is_installed_and_used(qapp: Any) -> None:
    ensure_application()
    font = QFont(qapp.font())
    font.setPixelSize(48)
    resolved = QFontInfo(font).family()  # may be the localised name (文泉驿微米黑) under zh_CN
    chinese = QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese)
    assert resolved in chinese, (
        f"the UI font resolves to {resolved!r}, which has no Simplified Chinese: install fonts-wqy-microhei "
        f"or fonts-noto-cjk (wanted one of {FONT_FAMILIES[:2]})")
    blank = _render(font, " ")
    missing = _render(font, "\ue000")  # a private-use character: no font has it, so it draws a box
    shapes = set()
    for ch in "街道便民服务中心受理编号":
        img = _render(font, ch)
        assert img != blank and img != missing, f"{ch!r} renders as a box or nothing"
        shapes.add(bytes(img.constBits()))
    assert len(shapes) == 12  # every character has its own glyph
