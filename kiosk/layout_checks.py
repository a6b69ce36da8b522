"""Layout checks that walk the live QML item tree: one module for the gallery and the test suite.

``check_window(window, elder=...)`` returns every violation on what the window shows now:

* ``elided`` – a text Qt had to elide or cut to ``maximumLineCount`` (``truncated``);
* ``clipped`` – a text whose glyphs do not fit its own box, or that a clipping ancestor cuts along an axis
  it does not scroll (a vertical list cuts nothing top or bottom, but everything at its sides); a text
  inside a button that touches the button's edge;
* ``keyboard_covers_focus`` – the focused field not fully visible above the virtual keyboard (covered by
  it, or scrolled out of its form);
* ``covered_by_keyboard`` – any other control the open keyboard hides (返回/下一步 included);
* ``small_target`` – a control smaller than the mode's minimum (60 px in elder mode, 44 px otherwise);
* ``small_text`` – in elder mode, a text under 18 pt, or a screen title (``ScreenTitle``) under 30 pt: the
  rule's own unit (the issue's "18 pt, 30 pt for titles"), turned into pixels with the screen's logical DPI
  (px = pt × DPI / 72: 24 px and 40 px at 96 DPI), so the check follows the screen it runs on;
* ``contrast`` – a text (placeholders included) whose colour has less than 4.5:1 against the background
  actually rendered behind it (read from a grab of the window);
* ``outside_window`` – a visible item that reaches outside the window.

Items under the virtual keyboard itself are Qt's and skipped, except the candidate bar's height, which
the kiosk sets (``small_candidate_bar``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage
from PySide6.QtQuick import QQuickItem, QQuickWindow

MIN_TARGET = {False: 44, True: 60}  # px, standard / elder mode (WCAG 2.5.5; MIIT 适老化: 60 px at 1080p)
MIN_ELDER_TEXT_PT = 18.0  # elder mode: body text, in points
MIN_ELDER_TITLE_PT = 30.0  # elder mode: screen titles, in points
POINTS_PER_INCH = 72.0
DEFAULT_DPI = 96.0  # a window not yet on a screen
MIN_CONTRAST = 4.5
MIN_CANDIDATE_BAR = {False: 44, True: 60}
BUTTON_TEXT_INSET = 4  # px a button's text keeps from the button's edge
TOLERANCE = 1.0  # px of rounding allowed everywhere

KEYBOARD_NAME = "inputPanel"
KEYBOARD_AREA = "keyboardArea"  # the keyboard with the input preview strip above it


@dataclass(frozen=True)
class Violation:
    check: str
    item: str
    detail: str
    rect: tuple[int, int, int, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- geometry helpers


def scene_rect(item: QQuickItem) -> QRectF:
    return item.mapRectToScene(QRectF(0, 0, item.width(), item.height()))


def _rect_tuple(r: QRectF) -> tuple[int, int, int, int]:
    return round(r.x()), round(r.y()), round(r.width()), round(r.height())


def _inside(inner: QRectF, outer: QRectF, tol: float = TOLERANCE) -> bool:
    return (inner.left() >= outer.left() - tol and inner.top() >= outer.top() - tol
            and inner.right() <= outer.right() + tol and inner.bottom() <= outer.bottom() + tol)


def _overlap(a: QRectF, b: QRectF, tol: float = TOLERANCE) -> bool:
    i = a.intersected(b)
    return i.width() > tol and i.height() > tol


def _is(item: QQuickItem, *classes: str) -> bool:
    return any(item.inherits(c) for c in classes)


def _is_scroller(item: QQuickItem) -> bool:
    return _is(item, "QQuickFlickable")


_FAR = 1e9  # the clip along an axis a view scrolls: none (what is scrolled away is not cut by layout)


def _scroll_axes(item: QQuickItem) -> tuple[bool, bool]:
    """Whether ``item`` scrolls (across, down): a Flickable (a ListView too) along the axes its content
    overflows; anything else along neither. (Its flick direction is an enum PySide cannot read.)"""
    if not _is_scroller(item):
        return False, False
    return (float(item.property("contentWidth") or 0) > item.width() + TOLERANCE,
            float(item.property("contentHeight") or 0) > item.height() + TOLERANCE)


def describe(item: QQuickItem) -> str:
    """``screen/…/name`` from the named ancestors, else the QML type."""
    parts: list[str] = []
    it: QQuickItem | None = item
    while it is not None and len(parts) < 4:
        name = it.objectName()
        if name:
            parts.append(name)
        it = it.parentItem()
    own = item.objectName() or item.metaObject().className().split("_QMLTYPE")[0].removeprefix("QQuick")
    if not parts or parts[0] != own:
        parts.insert(0, own)
    return "/".join(reversed(parts))


# ---------------------------------------------------------------- walking


@dataclass
class _Node:
    item: QQuickItem
    clip: QRectF  # what of the scene the clipping ancestors let through
    scrolled: bool  # some clipping ancestor is a scrolling view (cut by scrolling, not by layout)
    opacity: float
    enabled: bool
    in_button: QQuickItem | None
    in_keyboard: bool = False
    fixed_clip: QRectF | None = None  # the clip along the axes no clipping ancestor scrolls (None: all)


def _modal(window: QQuickWindow) -> QQuickItem | None:
    """A visible overlay that takes the whole screen (``kioskModal: true`` in QML): what is under it is
    dimmed and inactive, so only the overlay is checked."""
    stack = [window.contentItem()]
    while stack:
        item = stack.pop()
        if not item.isVisible():
            continue
        if item.property("kioskModal") is True:
            return item
        stack.extend(item.childItems())
    return None


def _walk(window: QQuickWindow) -> Iterator[_Node]:
    root = _modal(window) or window.contentItem()
    whole = QRectF(0, 0, window.width(), window.height())
    stack: list[_Node] = [_Node(root, whole, False, 1.0, True, None, fixed_clip=whole)]
    while stack:
        node = stack.pop()
        item = node.item
        yield node
        own_clip = node.clip
        scrolled = node.scrolled
        fixed = node.fixed_clip if node.fixed_clip is not None else whole
        if item.clip():
            box = scene_rect(item)
            own_clip = own_clip.intersected(box)
            scrolled = scrolled or _is_scroller(item)
            across, down = _scroll_axes(item)
            fixed = QRectF(QPointF(-_FAR if across else max(fixed.left(), box.left()),
                                   -_FAR if down else max(fixed.top(), box.top())),
                           QPointF(_FAR if across else min(fixed.right(), box.right()),
                                   _FAR if down else min(fixed.bottom(), box.bottom())))
        button = item if _is(item, "QQuickAbstractButton") else node.in_button
        for child in item.childItems():
            if not child.isVisible() or child.opacity() <= 0.01:
                continue
            if child.objectName() == KEYBOARD_NAME:
                continue  # Qt's keyboard: checked apart
            stack.append(_Node(child, own_clip, scrolled, node.opacity * child.opacity(),
                               node.enabled and child.isEnabled(), button,
                               node.in_keyboard or child.objectName() == KEYBOARD_AREA, fixed))


def keyboard_rect(window: QQuickWindow) -> QRectF | None:
    """The open virtual keyboard's rectangle in the scene, None when it is closed."""
    panel = _find(window, KEYBOARD_NAME)
    if panel is None or not panel.property("active") or not panel.isVisible():
        return None
    area = _find(window, KEYBOARD_AREA)
    r = scene_rect(area if area is not None and area.isVisible() else panel)
    return r.intersected(QRectF(0, 0, window.width(), window.height()))


def _find(window: QQuickWindow, name: str) -> QQuickItem | None:
    stack = [window.contentItem()]
    while stack:
        item = stack.pop()
        if item.objectName() == name:
            return item
        stack.extend(item.childItems())
    return None


# ---------------------------------------------------------------- colour


def _luminance(c: QColor) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())


def contrast_ratio(a: QColor, b: QColor) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _blend(fg: QColor, bg: QColor, alpha: float) -> QColor:
    return QColor.fromRgbF(fg.redF() * alpha + bg.redF() * (1 - alpha), fg.greenF() * alpha + bg.greenF() * (1 - alpha),
                           fg.blueF() * alpha + bg.blueF() * (1 - alpha))


def _pixels(image: QImage) -> np.ndarray:
    """The grab as an (h, w) array of 0xRRGGBB."""
    img = image.convertToFormat(QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint32, count=img.height() * img.bytesPerLine() // 4)
    return arr.reshape(img.height(), img.bytesPerLine() // 4)[:, : img.width()] & 0xFFFFFF


def _background(pixels: np.ndarray, rect: QRectF, dpr: float) -> QColor | None:
    """The colour most pixels of ``rect`` have in the grab (what is behind the glyphs)."""
    h, w = pixels.shape
    x0, y0 = max(0, int(rect.left() * dpr)), max(0, int(rect.top() * dpr))
    x1, y1 = min(w, math.ceil(rect.right() * dpr)), min(h, math.ceil(rect.bottom() * dpr))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    step = max(1, int(((x1 - x0) * (y1 - y0) / 4000) ** 0.5))
    values, counts = np.unique(pixels[y0:y1:step, x0:x1:step], return_counts=True)
    rgb = int(values[int(np.argmax(counts))])
    return QColor((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF)


# ---------------------------------------------------------------- the checks


def _text_of(item: QQuickItem) -> str:
    text = item.property("text")
    return text if isinstance(text, str) else ""


def _is_text(item: QQuickItem) -> bool:
    return _is(item, "QQuickText")


def _is_input(item: QQuickItem) -> bool:
    return _is(item, "QQuickTextInput", "QQuickTextEdit")


def _is_control(item: QQuickItem) -> bool:
    """What a finger aims at: buttons, fields, enabled tap areas."""
    if _is(item, "QQuickAbstractButton", "QQuickTextInput", "QQuickTextEdit"):
        return True
    return _is(item, "QQuickMouseArea") and bool(item.property("enabled"))


def _label(item: QQuickItem) -> str:
    text = _text_of(item).replace("\n", " ")
    if _is_input(item):  # a field's content may be personal data: never reported
        return describe(item)
    return f"{describe(item)} {text[:40]!r}" if text else describe(item)


def pt_to_px(points: float, dpi: float) -> float:
    """Points to (logical) pixels at ``dpi`` logical dots per inch."""
    return points * dpi / POINTS_PER_INCH


def logical_dpi(window: QQuickWindow) -> float:
    screen = window.screen()
    return float(screen.logicalDotsPerInch()) if screen is not None else DEFAULT_DPI


@dataclass
class _Pass:
    """One check of a window: what every item's rules compare against, and the violations found so far."""
    window: QQuickWindow
    elder: bool
    pixels: np.ndarray
    dpr: float
    whole: QRectF
    keyboard: QRectF | None
    focus: QQuickItem | None
    text_minimum: tuple[float, float, float] | None
    out: list[Violation]

    def add(self, check: str, item: QQuickItem, detail: str, rect: QRectF) -> None:
        self.out.append(Violation(check, _label(item), detail, _rect_tuple(rect)))


def check_window(window: QQuickWindow, *, elder: bool, image: QImage | None = None) -> list[Violation]:
    """Every layout violation on what ``window`` shows now (see the module's docstring)."""
    image = image if image is not None else window.grabWindow()
    dpi = logical_dpi(window)
    run = _Pass(window=window, elder=elder, pixels=_pixels(image), dpr=image.width() / max(1, window.width()),
                whole=QRectF(0, 0, window.width(), window.height()), keyboard=keyboard_rect(window),
                focus=window.activeFocusItem(),
                text_minimum=(pt_to_px(MIN_ELDER_TEXT_PT, dpi), pt_to_px(MIN_ELDER_TITLE_PT, dpi), dpi) if elder
                else None,
                out=[])
    seen_focus = False
    for node in _walk(window):
        if node.item is window.contentItem():
            continue
        seen_focus = _check_item(run, node) or seen_focus
    focus, keyboard = run.focus, run.keyboard
    if focus is not None and keyboard is not None and _is_input(focus) and not seen_focus:
        run.add("keyboard_covers_focus", focus, "the field being typed into is not on screen", scene_rect(focus))
    if keyboard is not None:
        _check_candidate_bar(run, keyboard)
    return run.out


def _check_item(run: _Pass, node: _Node) -> bool:
    """Every rule on one item of the walk; True when it is the focused field."""
    item = node.item
    rect = scene_rect(item)
    shown = rect.intersected(node.clip)
    if shown.width() <= TOLERANCE or shown.height() <= TOLERANCE:
        return False  # scrolled away or clipped entirely: not on screen
    if not _inside(rect, run.whole) and not node.scrolled and rect.width() > 0 and rect.height() > 0:
        run.add("outside_window", item, f"reaches outside the {run.window.width()}x{run.window.height()} window",
                rect)
    is_focus = run.focus is not None and item is run.focus and _is_input(item)
    if is_focus and run.keyboard is not None and (_overlap(rect, run.keyboard) or not _inside(rect, node.clip)):
        run.add("keyboard_covers_focus", item, "the field being typed into is not fully visible", rect)
    if _is_control(item) and node.enabled:
        _check_control(run, node, rect, shown)
    if _is_text(item) and _text_of(item).strip():
        _check_text(item, node, rect, run.text_minimum, run.pixels, run.dpr, run.add)
    # A field's placeholder is its own Text child, checked as a text above.
    return is_focus


def _check_control(run: _Pass, node: _Node, rect: QRectF, shown: QRectF) -> None:
    """A control the keyboard hides, and a control smaller than the mode's minimum (a TextField, background
    included, is its own target)."""
    item = node.item
    if run.keyboard is not None and _overlap(shown, run.keyboard) and item is not run.focus and not node.in_keyboard:
        run.add("covered_by_keyboard", item, "the open keyboard hides this control", rect)
    minimum = MIN_TARGET[run.elder]
    w, h = item.width(), item.height()
    if (w + TOLERANCE < minimum or h + TOLERANCE < minimum) and not _is(item, "QQuickTextEdit"):
        run.add("small_target", item, f"{w:.0f}x{h:.0f} px < {minimum} px", rect)


def _check_candidate_bar(run: _Pass, keyboard: QRectF) -> None:
    bar = candidate_bar_height(run.window)
    if bar is not None and bar + TOLERANCE < MIN_CANDIDATE_BAR[run.elder]:
        panel = _find(run.window, KEYBOARD_NAME)
        assert panel is not None
        run.out.append(Violation("small_candidate_bar", KEYBOARD_NAME,
                                 f"candidate bar {bar:.0f} px < {MIN_CANDIDATE_BAR[run.elder]} px",
                                 _rect_tuple(keyboard)))


def _check_text(item: QQuickItem, node: _Node, rect: QRectF, text_minimum: tuple[float, float, float] | None,
                pixels: np.ndarray, dpr: float, add: Any) -> None:
    if item.property("truncated"):
        add("elided", item, "text elided or cut to its line count", rect)
    else:
        cw = float(item.property("contentWidth") or 0)
        ch = float(item.property("contentHeight") or 0)
        if cw > item.width() + 2 or ch > item.height() + 2:
            add("clipped", item, f"text {cw:.0f}x{ch:.0f} does not fit its {item.width():.0f}x{item.height():.0f} box",
                rect)
        elif not node.scrolled and not _inside(rect, node.clip):
            add("clipped", item, "cut by a clipping parent", rect)
        elif node.fixed_clip is not None and not _inside(rect, node.fixed_clip):
            add("clipped", item, "cut at the side a list does not scroll to", rect)
    if node.in_button is not None and item.parentItem() is not None:
        brect = scene_rect(node.in_button)
        painted = _painted_rect(item, rect)
        inset = brect.adjusted(BUTTON_TEXT_INSET, BUTTON_TEXT_INSET, -BUTTON_TEXT_INSET, -BUTTON_TEXT_INSET)
        if not _inside(painted, inset, 0.5):
            add("clipped", item, f"text touches its button's edge (less than {BUTTON_TEXT_INSET} px)", painted)
    if text_minimum is not None:
        _check_text_size(item, rect, text_minimum, add)
    if not node.enabled:
        return  # inactive controls are exempt from the contrast minimum (WCAG 1.4.3)
    colour = item.property("color")
    if not isinstance(colour, QColor):
        return
    bg = _background(pixels, _painted_rect(item, rect).intersected(node.clip), dpr)
    if bg is None:
        return
    alpha = colour.alphaF() * node.opacity
    ratio = contrast_ratio(_blend(colour, bg, alpha), bg)
    if ratio < MIN_CONTRAST:
        add("contrast", item, f"{ratio:.2f}:1 ({colour.name()} on {bg.name()}) < {MIN_CONTRAST}:1", rect)


def _check_text_size(item: QQuickItem, rect: QRectF, text_minimum: tuple[float, float, float], add: Any) -> None:
    """Elder mode: body text at least 18 pt, screen titles at least 30 pt (sizes in pixels or points)."""
    body_px, title_px, dpi = text_minimum
    font = item.property("font")
    if font is None:
        return
    size = font.pixelSize() if font.pixelSize() > 0 else pt_to_px(font.pointSizeF(), dpi)
    title = item.property("screenTitle") is True
    need, need_pt = (title_px, MIN_ELDER_TITLE_PT) if title else (body_px, MIN_ELDER_TEXT_PT)
    if size > 0 and size + 0.01 < need:
        kind = "title" if title else "text"
        add("small_text", item, f"{kind} {size * POINTS_PER_INCH / dpi:.1f} pt ({size:.0f} px) < {need_pt:.0f} pt "
                                f"({need:.0f} px at {dpi:.0f} DPI) in elder mode", rect)


def _painted_rect(item: QQuickItem, rect: QRectF) -> QRectF:
    """The text's box, no larger than its glyphs' height (vertically centred as the kiosk's texts are)."""
    ch = float(item.property("contentHeight") or 0)
    if 0 < ch < item.height():
        top = item.mapToScene(QPointF(0, (item.height() - ch) / 2))
        return QRectF(rect.x(), top.y(), rect.width(), ch)
    return rect


def _flag(value: Any, default: int) -> int:
    if value is None:
        return default
    return int(getattr(value, "value", value))


def candidate_bar_height(window: QQuickWindow) -> float | None:
    """The Pinyin candidate bar's height (the keyboard style's selectionListHeight), None without a keyboard."""
    panel = _find(window, KEYBOARD_NAME)
    if panel is None:
        return None
    value = panel.property("candidateBarHeight")
    return float(value) if isinstance(value, (int, float)) else None


def summarise(violations: list[Violation]) -> dict[str, int]:
    return dict(Counter(v.check for v in violations))
