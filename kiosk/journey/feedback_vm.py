"""好差评 after a submission, and 投诉建议 from the home screen."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from kiosk.i18n import table
from kiosk.journey.session_service import JourneySession, ScreenViewModel
from kiosk.journey.validation import MAX_TEXT, PHONE

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")

# 好差评: the five national levels (国办发〔2019〕51号); 4 and 5 are 差评 and need a reason.
RATING_LEVELS = (
    (1, "very_satisfied", "rate1", 5),
    (2, "satisfied", "rate2", 4),
    (3, "basically_satisfied", "rate3", 3),
    (4, "dissatisfied", "rate4", 2),
    (5, "very_dissatisfied", "rate5", 1),
)
RATING_REASONS = ("reasonSlow", "reasonHard", "reasonUnclear", "reasonDevice", "reasonOther")
COMPLAINT_KINDS = ("complaint", "suggestion", "praise")


@QmlElement
class RatingViewModel(ScreenViewModel):
    ratingChanged = Signal()
    langChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._level = 0
        self._js.langChanged.connect(self.langChanged)
        self._js.screenChanged.connect(self._screen_changed)

    def _screen_changed(self) -> None:
        if self._js.screen == "rating" and self._level:
            self._level = 0
            self.ratingChanged.emit()

    @Property(list, notify=langChanged)
    def ratingLevels(self) -> list[dict[str, Any]]:
        return [{"level": n, "text": self._js.s[key], "bad": n >= 4} for n, _code, key, _score in RATING_LEVELS]

    @Property(list, notify=langChanged)
    def ratingReasons(self) -> list[dict[str, str]]:
        return [{"key": k, "text": self._js.s[k]} for k in RATING_REASONS]

    @Property(int, notify=ratingChanged)
    def ratingLevel(self) -> int:
        return self._level

    @Property(bool, notify=ratingChanged)
    def ratingNeedsReason(self) -> bool:
        return self._level >= 4

    @Property(int, constant=True)
    def textLimit(self) -> int:
        return MAX_TEXT

    @Slot(int)
    def rate(self, level: int) -> None:
        if self._js.screen != "rating" or not 1 <= level <= 5:
            return
        self._level = level
        self._js.set_error("")
        self.ratingChanged.emit()
        if level < 4:
            self.submitRating([], "")

    @Slot("QStringList", str)
    def submitRating(self, reasons: list[str], text: str) -> None:
        js, level = self._js, self._level
        if js.screen != "rating" or not 1 <= level <= 5:
            return
        reasons = [r for r in reasons if r in RATING_REASONS]
        text = text.strip()
        if level >= 4 and not reasons and not text:
            js.set_error(js.s["errReason"])
            return
        if len(text) > MAX_TEXT:
            js.set_error(js.s["errTooLongN"].format(label=js.s["rateReasonTitle"], max=MAX_TEXT, n=len(text)))
            return
        _n, code, key, score = RATING_LEVELS[level - 1]
        zh = table("zh")
        meta = {"level": code, "level_zh": zh[key], "score": score, "channel": "self_service_terminal",
                "service_code": js.item.code, "receipt_no": js.receipt.receipt_no if js.receipt else "",
                "needs_followup": level >= 4}
        private = {"reason": text, "reasons": [zh[r] for r in reasons]} if level >= 4 else None
        js.runner.run(lambda: js.submitter.event("rating", meta, private), lambda _id: None,
                      lambda e: log.error("rating not queued: %s", type(e).__name__))
        js.thank(js.s["rateThanks"])

    @Slot()
    def skipRating(self) -> None:
        self._js.end_session()


@QmlElement
class ComplaintViewModel(ScreenViewModel):
    langChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._js.langChanged.connect(self.langChanged)

    @Property(list, notify=langChanged)
    def complaintKinds(self) -> list[dict[str, str]]:
        keys = {"complaint": "complaintKindComplaint", "suggestion": "complaintKindSuggestion",
                "praise": "complaintKindPraise"}
        return [{"key": k, "text": self._js.s[keys[k]]} for k in COMPLAINT_KINDS]

    @Property(int, constant=True)
    def textLimit(self) -> int:
        """Shown as a counter under the text (n/500); never cut without a word."""
        return MAX_TEXT

    @Slot(str, str, str)
    def submitComplaint(self, kind: str, text: str, phone: str) -> None:
        js = self._js
        if js.screen != "complaint":
            return
        text, phone = text.strip(), phone.strip()
        if kind not in COMPLAINT_KINDS or not text:
            js.set_error(js.s["errComplaint"])
            return
        if len(text) > MAX_TEXT:
            js.set_error(js.s["errTooLongN"].format(label=js.s["complaintTitle"], max=MAX_TEXT, n=len(text)))
            return
        if phone and not PHONE.fullmatch(phone):
            js.set_error(js.s["errPhone"].format(label=js.s["deliveryPhone"]))
            return
        meta = {"category": kind, "channel": "self_service_terminal"}
        private = {"text": text, "phone": phone}
        js.runner.run(lambda: js.submitter.event("complaint", meta, private), lambda _id: None,
                      lambda e: log.error("complaint not queued: %s", type(e).__name__))
        js.thank(js.s["complaintThanks"])
