"""The signing screen (签名确认): for an item that asks for a signature (catalogue ``signature``), after the
resident ticked the item's 告知承诺 on the review screen, they sign it with a finger on a big pad.

The pad (``SignaturePad.qml``) reports the finger's path here; :class:`~kiosk.journey.signature.Ink` keeps
it as vectors. 重签 clears it. 确认签名并提交 checks there is a real signature, renders it to PNG, keeps it
in the session and asks the review's submission to go ahead (``JourneySession.submitRequested``): the
submission seals the PNG as an attachment and the vectors with the fields. Every visit starts with an empty
pad, and the ink is dropped when the resident leaves the screen, submits, or the session is wiped.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from kiosk.i18n import table
from kiosk.journey import signature as sig
from kiosk.journey.session_service import JourneySession, ScreenViewModel

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1


def commitment_text(js: JourneySession, lang: str | None = None) -> str:
    """The item's own 告知承诺, else the general one, in ``lang`` (the session's language by default)."""
    item, lang = js.item, lang or js.lang
    own = item.commitment_en if lang == "en" else item.commitment_zh
    return own or table(lang)["commitment"]


@QmlElement
class SignatureViewModel(ScreenViewModel):
    inkChanged = Signal()  # strokes added or cleared: the pad repaints from ``strokes``
    textChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._ink = sig.Ink()
        self._js.screenChanged.connect(self._screen_changed)
        self._js.wiped.connect(self._drop)
        self._js.langChanged.connect(self.textChanged)
        self._js.itemChanged.connect(self.textChanged)
        self._js.spoken["sign"] = lambda: self._js.s["signVoice"]

    @property
    def ink(self) -> sig.Ink:
        return self._ink

    @Property(str, notify=textChanged)
    def commitmentText(self) -> str:
        return commitment_text(self._js)

    @Property(list, notify=inkChanged)
    def strokes(self) -> list[list[list[int]]]:
        """The strokes in pad pixels, for the pad to redraw (after 重签, or when it is made again)."""
        return [[list(p) for p in s] for s in self._ink.strokes]

    @Property(bool, notify=inkChanged)
    def hasInk(self) -> bool:
        return bool(self._ink.strokes)

    def _screen_changed(self) -> None:
        if self._js.screen != "sign" and self._ink.strokes:
            self._drop()  # nothing of an unconfirmed signature outlives its screen
        elif self._js.screen == "sign":
            self._js.data.extra.pop(sig.SESSION_KEY, None)  # every visit signs again, as the promise is ticked again
            self._drop()

    def _drop(self) -> None:
        self._ink.clear()
        self.inkChanged.emit()

    @Slot(float, float)
    def setPadSize(self, width: float, height: float) -> None:
        before = (self._ink.width, self._ink.height)
        self._ink.resize(width, height)
        if self._ink.strokes and before != (self._ink.width, self._ink.height):
            self.inkChanged.emit()  # the pad redraws the scaled strokes

    @Slot(float, float)
    def beginStroke(self, x: float, y: float) -> None:
        if self._js.screen == "sign" and not self._js.busy and self._ink.begin(x, y):
            if self._js.error:
                self._js.set_error("")
            self.inkChanged.emit()

    @Slot(float, float)
    def extendStroke(self, x: float, y: float) -> None:
        if self._js.screen == "sign" and not self._js.busy and self._ink.add(x, y):
            self.inkChanged.emit()

    @Slot()
    def clear(self) -> None:
        """重签: start the signature again."""
        if not self._js.busy:
            self._js.set_error("")
            self._drop()

    @Slot()
    def confirm(self) -> None:
        """确认签名并提交: a real signature is rendered, kept in the session, and the submission goes ahead."""
        js = self._js
        if js.screen != "sign" or js.busy:
            return
        problem = sig.problem(self._ink)
        if problem:
            js.set_error(js.s[problem])
            js.say(js.s[problem])
            return
        png = sig.render_png(self._ink)  # ~40 ms (600 points, loaded machine), on the UI thread: no wipe races it
        js.data.extra[sig.SESSION_KEY] = sig.Signature(png, self._ink.vectors(), commitment_text(js, "zh"),
                                                       time.time())
        js.set_error("")
        js.submitRequested.emit()
