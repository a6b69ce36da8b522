"""Drive the QML UI as a finger would, by objectName: for the headless demo and the UI tests."""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication, QPointingDevice
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


def scroll_into_view(item: QQuickItem, margin: float = 8.0) -> bool:
    """Scroll the view that holds ``item`` so all of it shows, as a resident's swipe would.
    Returns whether anything moved."""
    flick = item.parentItem()
    while flick is not None and not flick.inherits("QQuickFlickable"):
        flick = flick.parentItem()
    if flick is None:
        return False
    content = flick.property("contentItem")
    top = item.mapToItem(content, QPointF(0, 0)).y()
    before = y = float(flick.property("contentY"))
    if top + item.height() > y + flick.height():
        y = top + item.height() - flick.height() + margin
    if top < y:
        y = top - margin
    y = max(0.0, min(y, float(flick.property("contentHeight")) - flick.height()))
    if abs(y - before) < 0.5:
        return False
    flick.setProperty("contentY", y)
    QCoreApplication.processEvents()
    return True


def wait_until_tappable(window: QQuickWindow, timeout_s: float = 2.0) -> None:
    """Wait out the window's tap guard (kiosk.journey.idle.TapGuard: taps within 500 ms of a screen change
    are dropped), as a resident's finger would: a scripted tap is never a double tap's second half."""
    from kiosk.journey.idle import TapGuard

    guard = window.findChild(TapGuard)
    if guard is not None:
        process_events_until(guard.allowed, timeout_s)


def _keyboard_following(window: QQuickWindow) -> bool:
    timer = window.findChild(QObject, "keyboardFollow")
    return timer is not None and bool(timer.property("running"))


def wait_for_keyboard_follow(window: QQuickWindow, timeout_s: float = 3.0) -> None:
    """Wait until the on-screen keyboard has finished scrolling its focused field into view
    (KioskKeyboard.qml's ``keyboardFollow`` passes). Until then it may scroll the form under a tap aimed at
    another field, which then lands on what scrolled there (or on nothing)."""
    if _keyboard_following(window):
        process_events_until(lambda: not _keyboard_following(window), timeout_s)


def settle(item: QQuickItem) -> None:
    """Lay out ``item`` and its ancestors now, as the next frame would. A layout or positioner (the header's
    Flow, a GridLayout) moves its children only when polished, before a frame: a change that has just
    happened (a button shown, a badge's text) leaves the geometry stale until then, and a tap aimed at the
    stale centre can press the button where it was and release where it no longer is."""
    chain: list[QQuickItem] = []
    at: QQuickItem | None = item
    while at is not None:
        chain.append(at)
        at = at.parentItem()
    for each in reversed(chain):  # outermost first: a parent places the child before the child lays out
        each.ensurePolished()


def tap(window: QQuickWindow, item: QQuickItem) -> None:
    """A real press and release at the item's centre, through the window's event delivery (a control
    scrolled out of its view is swiped into view first; a screen that has just appeared is given the
    tap guard's half second first)."""
    wait_until_tappable(window)
    for _ in range(3):  # the keyboard may scroll its field back once more: aim again, as a finger would
        wait_for_keyboard_follow(window)
        if not shiboken6.isValid(item):
            raise AutomationError("the item to tap was removed (its screen changed) before the tap")
        settle(item)
        scroll_into_view(item)
        settle(item)
        if not _keyboard_following(window):
            break
    centre = item.mapToScene(QPointF(item.width() / 2, item.height() / 2))
    QTest.mouseClick(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(round(centre.x()), round(centre.y())))


def draw(window: QQuickWindow, item: QQuickItem, strokes: list[list[tuple[float, float]]], *,
         touch: bool = True) -> None:
    """A finger drawing on ``item``: each stroke pressed at its first point, moved through the others and
    lifted at its last (points in the item's own coordinates), through the window's event delivery. With
    ``touch`` (the default) the events come from a touchscreen, one point per frame as a 60 Hz panel sends
    them (Qt Quick merges the moves of one frame); otherwise from a mouse."""
    wait_until_tappable(window)
    settle(item)  # a layout change just before (an error line going away) must not shift the first point
    for stroke in strokes:
        points = [item.mapToScene(QPointF(x, y)) for x, y in stroke]
        at = [QPoint(round(p.x()), round(p.y())) for p in points]
        if touch:
            device = _touch_device()
            QTest.touchEvent(window, device).press(0, at[0], window).commit()
            for p in at[1:]:
                QTest.touchEvent(window, device).move(0, p, window).commit()
                window.update()
                QTest.qWait(FRAME_MS)
            QTest.touchEvent(window, device).release(0, at[-1], window).commit()
        else:
            QTest.mousePress(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at[0])
            for p in at[1:]:
                QTest.mouseMove(window, p)
            QTest.mouseRelease(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at[-1])
        QGuiApplication.processEvents()


FRAME_MS = 17
_TOUCH: list[QPointingDevice] = []


def _touch_device() -> QPointingDevice:
    """One simulated touchscreen for the process (Qt keeps every device it was told of)."""
    if not _TOUCH:
        _TOUCH.append(QTest.createTouchDevice())
    return _TOUCH[0]


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
