"""The resident's screens against the layout checks (kiosk/layout_checks.py, the gallery's checks) with the
real Qt Virtual Keyboard, in both modes and the three panel resolutions: the focused field fully visible
above the keyboard, 返回/下一步 never under it, the input preview strip, the idle overlay's button never
under the keyboard, a fresh keyboard for every resident, search through the Pinyin keyboard, the candidate
bar's height; the full gallery matrix (slow) must show zero violations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtQml import QQmlEngine, QQmlExpression
from PySide6.QtQuick import QQuickItem, QQuickWindow
from PySide6.QtTest import QTest

from kiosk import automation as ui
from kiosk.layout_checks import Violation, check_window, keyboard_rect, scene_rect
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.journey_kit import JZZ, LNYD, Kiosk, close_kiosk, fill_required, go_to_item, open_kiosk, through_to_done

RESOLUTIONS = [(1280, 1024), (1920, 1080), (1080, 1920)]
KEYBOARD_CHECKS = {"keyboard_covers_focus", "covered_by_keyboard", "outside_window", "small_candidate_bar"}


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, hardware=False)
    yield k
    close_kiosk(k)


def qml(window: QQuickWindow, expression: str) -> Any:
    """Evaluate a QML expression in the main window's scope (its imports: InputContext, VirtualKeyboardSettings)."""
    expr = QQmlExpression(QQmlEngine.contextForObject(window), window, expression)
    value, _undefined = expr.evaluate()
    assert not expr.hasError(), expr.error().toString()
    return value


def set_look(k: Kiosk, size: tuple[int, int], elder: bool, lang: str = "zh") -> None:
    k.window.resize(*size)
    if bool(k.vm.property("elderMode")) != elder:
        ui.tap_named(k.window, "elderButton")
        assert ui.process_events_until(lambda: bool(k.vm.property("elderMode")) == elder, 3)
    if k.vm.property("language") != lang:
        ui.tap_named(k.window, "languageButton")
        assert ui.process_events_until(lambda: k.vm.property("language") == lang, 3)
    ui.process_events_until(lambda: False, 0.2)


def text_fields(window: QQuickWindow, screen: str) -> list[QQuickItem]:
    root = ui.wait_for_item(window, screen)
    out, stack = [], [root]
    while stack:
        item = stack.pop()
        if not item.isVisible():
            continue
        if item.inherits("QQuickTextField") and item.isEnabled() and not item.property("readOnly"):
            out.append(item)
        stack.extend(reversed(item.childItems()))
    return out


def open_keyboard_on(k: Kiosk, field: QQuickItem) -> None:
    """Focus a field as a resident does (swipe it into view, tap it) and wait for the keyboard and the scroll."""
    ui.tap(k.window, field)
    assert ui.process_events_until(lambda: keyboard_rect(k.window) is not None and field.hasActiveFocus(), 5)
    ui.process_events_until(lambda: False, 0.5)  # the form scrolls the field into view after the layout settles


def keyboard_problems(k: Kiosk, elder: bool) -> list[Violation]:
    return [v for v in check_window(k.window, elder=elder) if v.check in KEYBOARD_CHECKS]


def to_form(k: Kiosk, code: str = JZZ) -> None:
    go_to_item(k, code)
    ui.tap_named(k.window, "manualButton")
    ui.wait_for_item(k.window, "formScreen")


@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("elder", [False, True], ids=["standard", "elder"])
def test_every_form_field_is_fully_visible_above_the_keyboard(kiosk: Kiosk, size: tuple[int, int],
                                                              elder: bool) -> None:
    """Item 1: the focused field and 返回/下一步 are never under the keyboard; the strip repeats the text."""
    k = kiosk
    set_look(k, size, elder)
    to_form(k)
    fields = text_fields(k.window, "formScreen")
    assert len(fields) >= 4
    assert check_window(k.window, elder=elder) == []  # item 10: the placeholders' contrast (was 4.0:1) and more
    for field in fields:
        open_keyboard_on(k, field)
        field.setProperty("text", "13800138000")
        ui.process_events_until(lambda: False, 0.2)
        assert keyboard_problems(k, elder) == [], field.objectName()
        keyboard = keyboard_rect(k.window)
        assert keyboard is not None
        for name in ("backButton", "formNextButton"):
            button = scene_rect(ui.wait_for_item(k.window, name))
            assert button.bottom() <= keyboard.top() + 1, name
        preview = ui.wait_for_item(k.window, "inputPreviewText")
        assert preview.property("text") == "13800138000"
        assert preview.property("font").pixelSize() >= (40 if elder else 32)
        field.setProperty("text", "")


@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_keyboard_is_enlarged_in_elder_mode_with_a_tall_candidate_bar(kiosk: Kiosk, size: tuple[int, int]) -> None:
    """Items 5 and 7: elder mode has larger keys than standard mode and a Pinyin candidate bar >= 60 px
    (it was ~42 px), measured on the bar Qt shows while composing."""
    k = kiosk
    measured = {}
    for elder in (False, True):
        set_look(k, size, elder)
        if ui.find_item(k.window, "formScreen") is None:
            to_form(k)
        name = ui.wait_for_item(k.window, "nameField")
        open_keyboard_on(k, name)
        key = key_item(k.window, "a")
        measured[elder] = key.height()
        assert min(key.width(), key.height()) >= (60 if elder else 44), (elder, key.width(), key.height())
        for letter in "wang":
            press(k.window, key_item(k.window, letter))
        panel = ui.wait_for_item(k.window, "inputPanel")
        bar = QQmlExpression(QQmlEngine.contextForObject(panel), panel, "keyboard.wordCandidateView.height")
        assert ui.process_events_until(lambda bar=bar: float(bar.evaluate()[0]) > 0, 5)
        assert float(bar.evaluate()[0]) >= (60 if elder else 44)
        assert keyboard_problems(k, elder) == []
        name.setProperty("text", "")
        QGuiApplication.inputMethod().reset()
        QGuiApplication.inputMethod().hide()
        ui.process_events_until(lambda: keyboard_rect(k.window) is None, 3)
    assert measured[True] >= measured[False] * 1.15, measured


def key_item(window: QQuickWindow, text: str) -> QQuickItem:
    panel = ui.wait_for_item(window, "inputPanel")
    stack = [panel]
    while stack:
        item = stack.pop()
        if item.isVisible() and item.property("key") is not None and item.property("text") == text:
            return item
        stack.extend(item.childItems())
    raise AssertionError(f"no {text!r} key")


def press(window: QQuickWindow, item: QQuickItem) -> None:
    centre = item.mapToScene(item.boundingRect().center())
    at = QPoint(round(centre.x()), round(centre.y()))
    QTest.mousePress(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    QTest.qWait(40)
    QTest.mouseRelease(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    QTest.qWait(40)


def test_search_finds_items_by_initials_typed_through_the_pinyin_keyboard(kiosk: Kiosk) -> None:
    """Item 5: j-z-z typed on the Pinyin keyboard as it opens finds 居住证 (Pinyin composes them into a
    preedit, not text); the results stay above the keyboard."""
    k = kiosk
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    search = ui.wait_for_item(k.window, "searchField")
    open_keyboard_on(k, search)
    assert qml(k.window, "InputContext.locale") == "zh_CN"
    for letter in "jzz":
        press(k.window, key_item(k.window, letter))
    assert ui.process_events_until(lambda: re.sub(r"[\s']", "", str(search.property("preeditText"))) == "jzz", 5)
    assert ui.process_events_until(lambda: ui.find_item(k.window, f"itemTile_{LNYD}") is None, 5)
    tile = ui.wait_for_item(k.window, f"itemTile_{JZZ}")
    keyboard = keyboard_rect(k.window)
    assert keyboard is not None and scene_rect(tile).bottom() <= keyboard.top() + 1
    assert keyboard_problems(k, False) == []


def test_every_resident_starts_with_the_same_keyboard(kiosk: Kiosk) -> None:
    """Item 5: one resident switches to English with caps lock; the next gets Pinyin, lower case."""
    k = kiosk
    to_form(k)
    open_keyboard_on(k, ui.wait_for_item(k.window, "nameField"))
    qml(k.window, "VirtualKeyboardSettings.locale = 'en_US'")
    qml(k.window, "InputContext.priv.shiftHandler.capsLockActive = true")
    assert ui.process_events_until(lambda: qml(k.window, "InputContext.locale") == "en_US", 3)
    assert qml(k.window, "InputContext.capsLockActive")
    k.vm.endSession()
    ui.wait_for_item(k.window, "attractScreen")
    to_form(k)
    open_keyboard_on(k, ui.wait_for_item(k.window, "nameField"))
    assert qml(k.window, "InputContext.locale") == "zh_CN"
    assert not qml(k.window, "InputContext.capsLockActive")
    assert not qml(k.window, "InputContext.shiftActive")


def test_idle_overlay_closes_the_keyboard(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> None:
    """Item 4: 继续办理 is never under the keyboard; nothing under the overlay is checked (it is inactive)."""
    k = open_kiosk(tmp_path, outbox, device, hardware=False, idle_timeout_s=1.5)
    try:
        k.window.resize(1920, 1080)
        to_form(k)
        open_keyboard_on(k, ui.wait_for_item(k.window, "nameField"))
        assert ui.process_events_until(lambda: bool(k.vm.property("idleWarning")), 10)
        ui.process_events_until(lambda: False, 0.3)
        assert keyboard_rect(k.window) is None
        assert check_window(k.window, elder=False) == []
        ui.tap_named(k.window, "idleContinueButton")
        assert ui.process_events_until(lambda: not k.vm.property("idleWarning"), 3)
        ui.wait_for_item(k.window, "formScreen")
    finally:
        close_kiosk(k)


def test_a_visible_countdown_comes_before_the_idle_overlay(qapp: Any, tmp_path: Path, outbox: Outbox,
                                                           device: DeviceConfig) -> None:
    """Item 4: the last seconds before the overlay are counted down on screen, covering nothing."""
    k = open_kiosk(tmp_path, outbox, device, hardware=False, idle_timeout_s=17.0)  # warned in the last 15 s
    try:
        to_form(k)
        assert ui.find_item(k.window, "idleSoonBanner") is None or not k.vm.property("idleSoonSeconds")
        banner = ui.wait_for_item(k.window, "idleSoonText", timeout_s=6)
        first = int(k.vm.property("idleSoonSeconds"))
        assert 1 <= first <= 15 and str(first) in banner.property("text")
        assert ui.process_events_until(lambda: int(k.vm.property("idleSoonSeconds")) < first, 3)  # it counts
        assert check_window(k.window, elder=False) == []
        form = scene_rect(ui.wait_for_item(k.window, "formScreen"))
        assert form.top() >= scene_rect(ui.wait_for_item(k.window, "idleSoonBanner")).bottom() - 1
        ui.tap_named(k.window, "formNextButton")  # any touch: the warning goes
        assert ui.process_events_until(lambda: int(k.vm.property("idleSoonSeconds")) == 0, 1)
        assert ui.find_item(k.window, "idleSoonBanner") is None
    finally:
        close_kiosk(k)


def test_layout_checks_find_what_they_are_for(kiosk: Kiosk) -> None:
    """The checks themselves: a tiny button, faint text, a clipped label and a field under the keyboard."""
    k = kiosk
    to_form(k)
    name = ui.wait_for_item(k.window, "nameField")
    form = ui.wait_for_item(k.window, "formScreen")
    component = QQmlExpression(QQmlEngine.contextForObject(form), form, """(function() {
        var o = Qt.createQmlObject('import QtQuick; import QtQuick.Controls; Item { anchors.fill: parent; z: 5;'
          + 'Button { objectName: "tinyButton"; x: 600; y: 10; width: 30; height: 30; text: "x" }'
          + 'Label { objectName: "faintLabel"; x: 10; y: 10; text: "faint"; color: "#BBBBBB" }'
          + 'Label { objectName: "cutLabel"; x: 10; y: 60; width: 40; text: "a long label"; elide: Text.ElideRight }'
          + 'Rectangle { x: -10; y: 120; width: 40; height: 20; objectName: "outsideBox" }'
          + 'ListView { x: 10; y: 200; width: 200; height: 120; clip: true; model: 6;'
          + '  delegate: Label { objectName: "sideCut" + index; width: 400; height: 40;'
          + '    text: "a card wider than its list" } } }',
          parent, "probe")
        return true })()""")
    component.evaluate()
    assert not component.hasError(), component.error().toString()
    ui.process_events_until(lambda: False, 0.2)
    found = {(v.check, v.item.split(" ")[0].split("/")[-1]) for v in check_window(k.window, elder=False)}
    assert ("small_target", "tinyButton") in found
    assert ("contrast", "faintLabel") in found
    assert ("elided", "cutLabel") in found
    assert ("outside_window", "outsideBox") in found
    cut = {item for check, item in found if check == "clipped" and item.startswith("sideCut")}
    assert "sideCut0" in cut, "a vertical list scrolls its rows away at the bottom, but cuts nothing at its sides"
    assert "sideCut5" not in cut, "a row scrolled below the list is out of view, not cut by layout"
    # a field under the open keyboard: focus one, then move the keyboard over it
    open_keyboard_on(k, name)
    flick = name.parentItem()
    while not flick.inherits("QQuickFlickable"):
        flick = flick.parentItem()
    flick.setProperty("contentY", float(flick.property("contentHeight")) - flick.height())
    flick.setProperty("interactive", False)
    QGuiApplication.processEvents()
    assert "keyboard_covers_focus" in {v.check for v in check_window(k.window, elder=False)}


@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_elder_home_shows_pages_of_six_to_eight_whole_tiles(qapp: Any, tmp_path: Path, outbox: Outbox,
                                                            device: DeviceConfig, size: tuple[int, int]) -> None:
    """Item 7: elder mode shows 6-8 large tiles with icons a page, whole (no cut-off row), with paging."""
    from kiosk.catalog.model import load_catalog

    catalog = load_catalog()
    k = open_kiosk(tmp_path, outbox, device, hardware=False, catalog=catalog)
    try:
        set_look(k, size, True)
        ui.tap_named(k.window, "startButton")
        grid = ui.wait_for_item(k.window, "itemGrid")
        ui.process_events_until(lambda: False, 0.3)
        area = scene_rect(grid)
        seen: set[str] = set()
        pages = 0
        while True:
            pages += 1
            shown = [t for t in tiles(k.window) if area.intersects(scene_rect(t))]
            assert all(area.contains(scene_rect(t)) for t in shown), "a tile is cut by the grid's edge"
            assert 6 <= len(shown) <= 8 or len(seen) + len(shown) == len(catalog.items), len(shown)
            assert all(scene_rect(t).height() >= 120 for t in shown)
            seen |= {t.objectName() for t in shown}
            assert check_window(k.window, elder=True) == []
            nxt = ui.wait_for_item(k.window, "pageNextButton")
            if not nxt.isEnabled():
                break
            ui.tap(k.window, nxt)
            ui.process_events_until(lambda: False, 0.3)
        assert pages >= 2 and len(seen) == len(catalog.items)  # every item is on some page
        page = ui.wait_for_item(k.window, "pageText").property("text")
        assert page == f"第 {pages} / {pages} 页"
    finally:
        close_kiosk(k)


def tiles(window: QQuickWindow) -> list[QQuickItem]:
    grid = ui.wait_for_item(window, "itemGrid")
    out, stack = [], [grid]
    while stack:
        item = stack.pop()
        if item.objectName().startswith("itemTile_") and item.isVisible():
            out.append(item)
        stack.extend(item.childItems())
    return out


@pytest.mark.parametrize("size", [(1280, 1024), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_ratings_are_one_column_and_the_reason_field_comes_above_the_keyboard(kiosk: Kiosk,
                                                                             size: tuple[int, int]) -> None:
    """Item 7: the five levels in one column (非常不满意 was alone on a second row); a 差评's reason field
    scrolls above the keyboard."""
    k = kiosk
    set_look(k, size, True)
    go_to_item(k, LNYD)
    ui.tap_named(k.window, "manualButton")
    through_to_done(k)
    ui.tap_named(k.window, "finishButton")
    ui.wait_for_item(k.window, "ratingScreen")
    buttons = [ui.wait_for_item(k.window, f"rate_{n}") for n in range(1, 6)]
    xs = {round(scene_rect(b).x()) for b in buttons}
    ys = [scene_rect(b).y() for b in buttons]
    assert len(xs) == 1 and ys == sorted(ys) and len(set(ys)) == 5, (xs, ys)
    assert check_window(k.window, elder=True) == []
    ui.tap(k.window, buttons[4])
    field = ui.wait_for_item(k.window, "reasonText")
    open_keyboard_on(k, field)
    assert keyboard_problems(k, True) == []


@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_delivery_by_post_fields_come_above_the_keyboard(qapp: Any, tmp_path: Path, outbox: Outbox,
                                                         device: DeviceConfig, size: tuple[int, int]) -> None:
    """Item 1 on the delivery screen (the gallery found 返回/下一步 and the phone field under the keyboard)."""
    k = open_kiosk(tmp_path, outbox, device)
    try:
        set_look(k, size, True)
        to_form(k)
        fill_required(k)
        ui.tap_named(k.window, "formNextButton")
        ui.wait_for_item(k.window, "materialsScreen")
        for i, m in enumerate(k.materials.materials.rows):
            if m["mstate"] == "needed" and m["isRequired"]:
                ui.tap_named(k.window, f"missing_{i}" if m["allowMissing"] else f"capture_{i}")
                ui.process_events_until(lambda i=i: k.materials.materials.rows[i]["mstate"] != "needed", 10)
        ui.tap_named(k.window, "materialsNextButton")
        ui.wait_for_item(k.window, "deliveryScreen")
        ui.tap_named(k.window, "deliveryPost")
        for name in ("addressField", "phoneField"):
            open_keyboard_on(k, ui.wait_for_item(k.window, name))
            assert keyboard_problems(k, True) == [], name
            assert check_window(k.window, elder=True) == [], name
    finally:
        close_kiosk(k)


@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_header_title_is_never_elided(kiosk: Kiosk, size: tuple[int, int]) -> None:
    """Item 9: "Street Ser···" in English + elder mode + offline."""
    k = kiosk
    set_look(k, size, True, "en")
    assert not k.vm.property("online")
    title = ui.wait_for_item(k.window, "appTitle")
    assert not title.property("truncated") and title.property("text") == k.vm.property("s")["appTitle"]
    assert [v for v in check_window(k.window, elder=True) if v.check in ("elided", "clipped")] == []


def test_english_texts_use_ascii_punctuation_and_screens_add_none_of_their_own() -> None:
    """Item 9: "Name：" in English; the screens join texts with the language's own separators."""
    from kiosk.i18n.strings import STRINGS
    from kiosk.service_mode.strings import SERVICE_STRINGS

    full_width = re.compile(r"[\u3000-\u303f\uff00-\uffef]")
    assert [k for k, (_zh, en) in {**STRINGS, **SERVICE_STRINGS}.items() if full_width.search(en)] == []
    qml_dir = Path(__file__).resolve().parents[1] / "kiosk" / "qml"
    for path in [*qml_dir.glob("screens/*.qml"), *qml_dir.glob("components/*.qml"), *qml_dir.glob("service/*.qml"),
                 qml_dir / "Main.qml"]:
        literals = re.findall(r'"([^"\n]*)"', path.read_text(encoding="utf-8"))
        assert [t for t in literals if full_width.search(t) and len(t) <= 2] == [], path.name


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~140 screens a resolution: 2-4 minutes on a loaded machine
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_gallery_shows_zero_violations(qapp: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """Every screen, zh/en x standard/elder at this resolution, through the gallery's own run."""
    from kiosk.gallery import render_gallery

    report = render_gallery(tmp_path / "gallery", resolutions=(size,))
    data = json.loads((tmp_path / "gallery" / "layout.json").read_text(encoding="utf-8"))
    assert data["errors"] == []
    assert data["shots"] >= 4 * 30 and len(list((tmp_path / "gallery").glob("*.png"))) == data["shots"]
    problems = [f"{s['png']}: {v['check']} {v['item']} {v['detail']}" for s in data["screens"] for v in s["violations"]]
    assert problems == [], "\n".join(problems[:40])
    assert report.violations == 0
