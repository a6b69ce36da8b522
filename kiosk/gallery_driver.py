"""The screen gallery's shots and report, and its driver: one kiosk window tapped through as the tests tap it
(kiosk/automation.py). Used by ``kiosk/gallery.py``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PAD_KINDS = ("idnumber", "receipt")  # fields typed on their own pad (IdPad.qml, ReceiptPad.qml), not the keyboard


@dataclass
class Shot:
    name: str
    png: str
    lang: str
    mode: str
    size: str
    violations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class GalleryReport:
    shots: list[Shot] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return sum(len(s.violations) for s in self.shots)

    def as_json(self) -> dict[str, Any]:
        by_check: dict[str, int] = {}
        for s in self.shots:
            for v in s.violations:
                by_check[v["check"]] = by_check.get(v["check"], 0) + 1
        return {"shots": len(self.shots), "violations": self.violations, "by_check": by_check,
                "errors": self.errors,
                "screens": [{"name": s.name, "png": s.png, "lang": s.lang, "mode": s.mode, "size": s.size,
                             "violations": s.violations} for s in self.shots]}


class Driver:
    """One kiosk window driven by taps, as in the tests (kiosk/automation.py)."""

    def __init__(self, window: Any, vm: Any, outbox: Any, hardware: Any = None) -> None:
        self.window, self.vm, self.outbox, self.hardware = window, vm, outbox, hardware

    def item(self, name: str) -> Any:
        from kiosk import automation as ui

        return ui.wait_for_item(self.window, name)

    def settle(self, seconds: float = 0.35) -> None:
        from kiosk import automation as ui

        ui.process_events_until(lambda: False, seconds)

    def tap(self, name: str, until: Callable[[], bool] | None = None) -> None:
        from kiosk import automation as ui

        for _ in range(3):
            ui.tap(self.window, ui.wait_for_item(self.window, name))
            if until is None or ui.process_events_until(until, 2):
                return
        raise RuntimeError(f"tapping {name} had no effect")

    def wait(self, name: str, timeout_s: float = 8.0) -> None:
        from kiosk import automation as ui

        ui.wait_for_item(self.window, name, timeout_s)
        self.settle(0.25)

    def type_into(self, name: str, text: str) -> None:
        """Tap the field (the keyboard opens) and put text in as the keyboard commits it."""
        from PySide6.QtGui import QGuiApplication

        from kiosk import automation as ui

        item = ui.wait_for_item(self.window, name)
        ui.scroll_into_view(item)
        if item.property("inputKind") in PAD_KINDS:  # the ID or receipt pad under the field, no keyboard
            ui.tap(self.window, item)
            self.settle(0.4)
            if text:
                item.setProperty("text", text)
            self.settle(0.3)
            return
        if keyboard_open(self.window):  # a field the open keyboard may cover: focus it as a scroll-and-tap would
            item.forceActiveFocus()
            QGuiApplication.inputMethod().show()
        else:
            ui.tap(self.window, item)
        ui.process_events_until(lambda: keyboard_open(self.window), 3)
        if text:
            item.setProperty("text", text)
        self.settle(0.35)  # the form's scroll to the field (KioskKeyboard follows for ~250 ms)

    def hide_keyboard(self) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.inputMethod().hide()
        self.window.contentItem().forceActiveFocus()
        self.settle(0.4)

    def set_online(self, online: bool) -> None:
        self.outbox.set_states({"connected": "1" if online else "0", "daemon_seen": str(time.time())})
        self.vm.refreshStatus()
        from kiosk import automation as ui

        ui.process_events_until(lambda: bool(self.vm.property("online")) == online, 5)

    def set_look(self, lang: str, elder: bool) -> None:
        from kiosk import automation as ui

        if self.vm.property("language") != lang:
            ui.tap_named(self.window, "languageButton")
            ui.process_events_until(lambda: self.vm.property("language") == lang, 3)
        if bool(self.vm.property("elderMode")) != elder:
            ui.tap_named(self.window, "elderButton")
            ui.process_events_until(lambda: bool(self.vm.property("elderMode")) == elder, 3)
        self.settle(0.3)


def screen_names(d: Driver, screen: str) -> list[str]:
    """The objectNames of the visible items on a screen, in tree order."""
    from kiosk import automation as ui

    root = ui.find_item(d.window, screen)
    out: list[str] = []
    stack = [root] if root is not None else []
    while stack:
        item = stack.pop()
        if not item.isVisible():
            continue
        if item.objectName():
            out.append(item.objectName())
        stack.extend(reversed(item.childItems()))
    return out


def screen_fields(d: Driver, screen: str) -> list[tuple[str, str]]:
    """(objectName, kind) of the text fields on a screen a resident can type into."""
    out = []
    for name in screen_names(d, screen):
        item = d.item(name)
        pad = item.property("inputKind") in PAD_KINDS  # typed on a pad, read-only to input methods
        if item.inherits("QQuickTextField") and item.isEnabled() and (pad or not item.property("readOnly")):
            out.append((name, str(item.property("inputKind") or "text")))
    return out


def screen_choices(d: Driver, screen: str) -> list[list[str]]:
    """The option buttons of each choice field still unanswered, grouped by field."""
    groups: dict[str, list[str]] = {}
    for name in screen_names(d, screen):
        if "_option_" in name:
            groups.setdefault(name.split("_option_")[0], []).append(name)
    return [names for names in groups.values() if not any("✔" in str(d.item(n).property("text")) for n in names)]


def chosen(d: Driver, name: str) -> Callable[[], bool]:
    """Whether the option button shows as chosen (✔)."""
    return lambda: "✔" in str(d.item(name).property("text"))


def keyboard_open(window: Any) -> bool:
    from kiosk.layout_checks import keyboard_rect

    return keyboard_rect(window) is not None
