"""Drive the QML UI as a finger would, by objectName: for the headless demo and the UI tests."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtQuick import QQuickItem, QQuickWindow
from PySide6.QtTest import QTest


class AutomationError(AssertionError):
    pass


def find_item(window: QQuickWindow, object_name: str) -> QQuickItem | None:
    """The first visible item with that objectName, searching the visual tree."""
    stack = [window.contentItem()]
    while stack:
        item = stack.pop()
        if item.objectName() == object_name and item.isVisible():
            return item
        stack.extend(reversed(item.childItems()))
    return None


def process_events_until(predicate: object, timeout_s: float = 5.0) -> bool:
    deadline = QDeadlineTimer(int(timeout_s * 1000))
    while not deadline.hasExpired():
        if predicate():  # type: ignore[operator]
            return True
        QCoreApplication.processEvents()
        QCoreApplication.sendPostedEvents()
        QTest.qWait(10)
    return bool(predicate())  # type: ignore[operator]


def wait_for_item(window: QQuickWindow, object_name: str, timeout_s: float = 5.0) -> QQuickItem:
    found: list[QQuickItem] = []

    def look() -> bool:
        item = find_item(window, object_name)
        if item is not None and item.width() > 0:
            found.append(item)
            return True
        return False

    if not process_events_until(look, timeout_s):
        raise AutomationError(f"no visible item named {object_name!r} within {timeout_s} s")
    return found[-1]


def tap(window: QQuickWindow, item: QQuickItem) -> None:
    """A real press and release at the item's centre, through the window's event delivery."""
    centre = item.mapToScene(QPointF(item.width() / 2, item.height() / 2))
    QTest.mouseClick(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(round(centre.x()), round(centre.y())))


def tap_named(window: QQuickWindow, object_name: str, timeout_s: float = 5.0) -> None:
    tap(window, wait_for_item(window, object_name, timeout_s))


def enter_text(window: QQuickWindow, object_name: str, text: str) -> None:
    """Focus the field by tapping it, then put the text in as an input method would commit it."""
    field = wait_for_item(window, object_name)
    tap(window, field)
    field.setProperty("text", text)


def screenshot(window: QQuickWindow, path: Path) -> Path:
    QGuiApplication.processEvents()
    image = window.grabWindow()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path)):
        raise AutomationError(f"could not save a screenshot to {path}")
    return path
