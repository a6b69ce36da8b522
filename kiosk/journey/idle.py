"""Notice any touch, click or key on the kiosk's window (to keep a resident's session alive)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject

ACTIVITY = {QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin, QEvent.Type.KeyPress,
            QEvent.Type.Wheel, QEvent.Type.TabletPress}


class ActivityFilter(QObject):
    """Install on the window: calls ``on_activity`` for every press; never consumes the event."""

    def __init__(self, on_activity: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_activity = on_activity

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in ACTIVITY:
            self._on_activity()
        return False
