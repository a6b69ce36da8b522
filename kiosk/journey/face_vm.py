"""The face screen (人证核验): for an item that asks for it (catalogue ``face_check``), after the ID card was read
from its chip, the resident looks into the face camera inside an oval guide, then turns the head a little to the
side the screen and the voice ask for; the face is compared with the card's photo (drivers/face).

Pass: 核验通过, and on to the form. A failure says why in plain words and offers 再试一次; after
:data:`~kiosk.journey.face_record.MAX_FAILURES` failures (or when the check cannot be done at all) the screen
offers 呼叫工作人员 and 继续办理，到窗口人工核验, never a dead end: the application goes on with the result sealed
as it is, for the counter to check by hand. The attempt runs off the UI thread (kiosk/camera/face_runner.py)
and stops when the screen is left or the session wiped; its result is kept in the session only.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement

from drivers.face.check import Outcome
from drivers.interfaces import IdentityRecord
from kiosk.camera.face_runner import FaceRunner, Report
from kiosk.journey.face_record import MAX_FAILURES, SESSION_KEY, FaceRecord, not_done
from kiosk.journey.session_service import JourneySession, ScreenViewModel

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")

PASS_PAUSE_MS = 1500  # 核验通过 stays this long before the form
# The runner's prompts and the outcomes' reasons -> kiosk/i18n/face.py keys.
PROMPT_KEYS = {"no_face": "faceNoFace", "too_far": "faceTooFar", "look": "faceLook", "turn_left": "faceTurnLeft",
               "turn_right": "faceTurnRight", "passed": "facePassed", "failed": "faceRetryHint",
               "help": "faceHelpHint"}
WHY_KEYS = {"mismatch": "faceWhyMismatch", "liveness": "faceWhyLiveness", "no_face": "faceWhyNoFace",
            "no_card_photo": "faceWhyNoPhoto", "error": "faceWhyError"}


def next_screen(js: JourneySession, record: IdentityRecord) -> str:
    """Where identifying leads: the face screen for an item with the check, a chip photo and a face camera;
    else the form (an item with the check then records it as not done, and why)."""
    if not js.item.face_check:
        return "form"
    if record.photo and js.hw is not None and js.hw.face_camera is not None:
        return "face"
    js.data.extra[SESSION_KEY] = not_done("no_card_photo" if not record.photo else "no_camera")
    return "form"


@QmlElement
class FaceViewModel(ScreenViewModel):
    changed = Signal()
    previewChanged = Signal()
    _reported = Signal(object)  # Report, from the worker thread: queued onto the UI thread

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None,
                 runner: FaceRunner | None = None) -> None:
        super().__init__(parent, session)
        js = self._js
        self._runner = runner
        self._attempt = 0
        self._failures = 0
        self._state = ""  # checking | passed | failed | help
        self._prompt = ""
        self._why = ""
        self._preview_no = 0
        self._reported.connect(self._on_report)
        js.device_needs["face"] = lambda: {}  # every other device off; the runner reads the face camera itself
        js.spoken["face"] = lambda: self.prompt_text() or js.s["faceIntro"]
        js.screenChanged.connect(self._screen_changed)
        js.wiped.connect(self._reset)
        js.langChanged.connect(self.changed)

    # -- QML ---------------------------------------------------------------------------------------------
    @Property(str, notify=changed)
    def state(self) -> str:
        return self._state

    def prompt_text(self) -> str:
        key = PROMPT_KEYS.get(self._prompt)
        return self._js.s[key] if key else ""

    def why_text(self) -> str:
        key = WHY_KEYS.get(self._why)
        return self._js.s[key] if key else ""

    @Property(str, notify=changed)
    def promptText(self) -> str:
        return self.prompt_text()

    @Property(str, notify=changed)
    def whyText(self) -> str:
        return self.why_text()

    @Property(str, notify=changed)
    def turn(self) -> str:
        """``left`` or ``right`` while the resident is asked to turn (their own side; the preview is a mirror, so
        the screen's arrow points the same way), else empty."""
        return {"turn_left": "left", "turn_right": "right"}.get(self._prompt, "")

    @Property(int, notify=changed)
    def failures(self) -> int:
        return self._failures

    @Property(bool, notify=changed)
    def offerHelp(self) -> bool:
        return self._state == "help"

    @Property(int, notify=previewChanged)
    def previewFrame(self) -> int:
        return self._preview_no

    @Slot()
    def retry(self) -> None:
        if self._js.screen == "face" and self._state == "failed":
            self._start()

    @Slot()
    def continueManually(self) -> None:
        """继续办理，到窗口人工核验: the application goes on; the sealed result stays fail / not done."""
        if self._js.screen != "face" or self._state != "help":
            return
        record = self._js.data.extra.get(SESSION_KEY)
        if not isinstance(record, FaceRecord):
            self._js.data.extra[SESSION_KEY] = not_done("manual")
        self._js.set_screen("form")

    # -- attempts ----------------------------------------------------------------------------------------
    def _screen_changed(self) -> None:
        if self._js.screen == "face":
            self._failures = 0
            self._js.data.extra.pop(SESSION_KEY, None)
            self._start()
        else:
            self._stop()

    def _start(self) -> None:
        js = self._js
        identity = js.data.identity
        camera = js.hw.face_camera if js.hw is not None else None
        if identity is None or not identity.photo or camera is None:
            self._finish_not_done("no_card_photo")
            return
        if self._runner is None:
            self._runner = FaceRunner(camera, js.data.previews)
        self._attempt += 1
        self._set(state="checking", prompt="look", why="")
        self._runner.start(self._attempt, identity.photo, self._reported.emit, keep_image=js.item.face_image)

    def _stop(self) -> None:
        self._attempt += 1  # a report still in flight belongs to an attempt that is over
        if self._runner is not None:
            self._runner.stop()
        if self._preview_no:
            self._preview_no = 0
            self.previewChanged.emit()

    def _reset(self) -> None:
        self._stop()
        self._failures = 0
        self._set(state="", prompt="", why="")

    @Slot(object)
    def _on_report(self, report: Report) -> None:
        if report.attempt != self._attempt or self._js.screen != "face":
            return
        if report.preview_no and report.preview_no != self._preview_no:
            self._preview_no = report.preview_no
            self.previewChanged.emit()
        if report.outcome is None:
            if report.prompt != self._prompt:
                self._set(prompt=report.prompt)
                self._js.say(self.prompt_text())
            return
        self._finished(report.outcome, report.image_png)

    def _finished(self, outcome: Outcome, image_png: bytes | None) -> None:
        js = self._js
        attempts = self._failures + 1
        if outcome.passed:
            js.data.extra[SESSION_KEY] = FaceRecord("pass", outcome.reason, outcome.band, attempts, outcome.distance,
                                                    image_png)
            self._set(state="passed", prompt="passed", why="")
            js.say(self.prompt_text())
            attempt = self._attempt
            QTimer.singleShot(PASS_PAUSE_MS, lambda: self._advance(attempt))
            return
        if outcome.reason in ("no_card_photo", "error"):
            self._finish_not_done(outcome.reason)
            return
        self._failures += 1
        js.data.extra[SESSION_KEY] = FaceRecord("fail", outcome.reason, outcome.band, self._failures,
                                                outcome.distance)
        state = "help" if self._failures >= MAX_FAILURES else "failed"
        self._set(state=state, prompt="help" if state == "help" else "failed", why=outcome.reason)
        js.say(f"{self.why_text()}{self.prompt_text()}")
        log.info("face check failed (%s), attempt %d", outcome.reason, self._failures)

    def _finish_not_done(self, reason: str) -> None:
        self._js.data.extra[SESSION_KEY] = not_done(reason)
        self._set(state="help", prompt="help", why=reason)
        self._js.say(f"{self.why_text()}{self.prompt_text()}")

    def _advance(self, attempt: int) -> None:
        if attempt == self._attempt and self._js.screen == "face" and self._state == "passed":
            self._js.set_screen("form")

    def _set(self, *, state: str | None = None, prompt: str | None = None, why: str | None = None) -> None:
        if state is not None:
            self._state = state
        if prompt is not None:
            self._prompt = prompt
        if why is not None:
            self._why = why
        self.changed.emit()
