"""Notice any touch, click or key on the kiosk's window (to keep a resident's session alive), and drop
taps that arrive right after a screen change (a double tap's second half)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject

ACTIVITY = {QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin, QEvent.Type.KeyPress,
            QEvent.Type.Wheel, QEvent.Type.TabletPress}
_PRESSES = {QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick, QEvent.Type.TouchBegin}
_RELEASES = {QEvent.Type.MouseButtonRelease, QEvent.Type.TouchEnd}
_MOVES = {QEvent.Type.MouseMove, QEvent.Type.TouchUpdate}


class ActivityFilter(QObject):
    """Install on the window: calls ``on_activity`` for every press; never consumes the event."""

    def __init__(self, on_activity: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_activity = on_activity

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in ACTIVITY:
            self._on_activity()
        return False


class TapGuard(QObject):
    """Install on the window: a press that arrives while ``allowed()`` is False is swallowed with its
    moves and release, so a button that appeared under the finger a moment ago is not pressed. The
    screen change's own tap (pressed before the change) is delivered in full."""

    def __init__(self, allowed: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._allowed = allowed
        self._swallowing = False
        self.dropped = 0

    def allowed(self) -> bool:
        """Whether a press now would be delivered."""
        return self._allowed()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in _PRESSES:
            self._swallowing = not self._allowed()
            if self._swallowing:
                self.dropped += 1
            return self._swallowing
        if kind in _MOVES:
            return self._swallowing
        if kind in _RELEASES:
            swallowed, self._swallowing = self._swallowing, False
            return swallowed
        return False
