"""Help on every journey screen: the 🔊 button (say the screen's prompt again) and 呼叫工作人员.

A staff call is a kiosk alarm (``up/event`` of type ``alarm``, code ``staff_call``) through the outbox and
the sync daemon: the central opens it in its alarms and the operators' console lists it with the kiosk and
its site; an operator clears it when someone has gone over. The detail says which screen and item the
resident is on, never who they are. One call per ``STAFF_CALL_REPEAT_S``: tapping again while waiting
only repeats the reassurance. The screen is honest about delivery: "calling" while the call waits for the
central's acknowledgement, "staff have been told" once acknowledged, and offline it says the call waits
for the network and points to the counter.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement

from kiosk.journey.session_service import IDLE_SCREENS, JourneySession, optional_service
from kiosk.journey.voice import SCREEN_PROMPTS
from sync.outbox.models import State

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger("kiosk.journey")

STAFF_CALL_CODE = "staff_call"
STAFF_CALL_REPEAT_S = 120.0  # a second call within this time is the same call


def staff_call_meta(screen: str, item_code: str, lang: str) -> dict[str, Any]:
    """The alarm event's meta: what the console shows. No personal data."""
    detail = f"resident asks for help at the kiosk (screen {screen}, item {item_code or '-'}, language {lang})"
    return {"code": STAFF_CALL_CODE, "severity": "critical", "detail": detail[:200]}


def screen_prompt(js: JourneySession) -> str:
    """What 🔊 says: the prompt the screen's view-model set, else the screen's fixed prompt."""
    spoken = js.spoken.get(js.screen)
    if spoken is not None:
        text = spoken()
        if text:
            return text
    key = SCREEN_PROMPTS.get(js.screen, "")
    return js.s.get(key, "") if key else ""


@QmlElement
class AssistViewModel(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent)
        js = session or optional_service(JourneySession)
        assert isinstance(js, JourneySession), "the journey-session service is missing"
        self._js = js
        self._call_state = ""  # "" | "sending" | "queued" | "sent" (acknowledged) | "failed"
        self._called_at = 0.0
        self._call_id = ""
        self._poll = QTimer(self, interval=1000)
        self._poll.timeout.connect(self._check_delivered)
        js.screenChanged.connect(self.changed)
        js.langChanged.connect(self.changed)
        js.sessionEnded.connect(self._reset)
        if js.voice is not None:
            js.voice.stateChanged.connect(self.changed)  # muted or unmuted: the button shows or hides

    # -- 🔊 ---------------------------------------------------------------------------------------

    @Property(bool, notify=changed)
    def voiceAvailable(self) -> bool:
        v = self._js.voice
        return v is not None and v.available and not v.muted

    @Slot()
    def repeatPrompt(self) -> None:
        text = screen_prompt(self._js)
        if self._js.voice is not None and text:
            self._js.voice.say(text)

    # -- 呼叫工作人员 ---------------------------------------------------------------------------------

    @Property(bool, notify=changed)
    def canCallStaff(self) -> bool:
        return self._js.screen not in IDLE_SCREENS

    @Property(str, notify=changed)
    def callState(self) -> str:
        return self._call_state

    def call_text(self) -> str:
        key = {"sending": "callStaffWait", "sent": "callStaffSent", "queued": "callStaffQueued",
               "failed": "callStaffFailed"}.get(self._call_state)
        return self._js.s[key] if key else ""

    @Property(str, notify=changed)
    def callText(self) -> str:
        return self.call_text()

    @Slot()
    def callStaff(self) -> None:
        js = self._js
        if js.screen in IDLE_SCREENS:
            return
        now = time.monotonic()
        if self._call_state in ("sending", "sent", "queued") and now - self._called_at < STAFF_CALL_REPEAT_S:
            js.say(self.call_text())  # already called: reassure, do not call twice
            return
        device = js.submitter.device
        if device is None:
            self._set_call("failed")
            return
        self._called_at = now
        self._set_call("sending")
        meta = staff_call_meta(js.screen, js.item.code if js.item else "", js.lang)
        outbox = js.submitter.outbox
        online = js.online
        js.runner.run(lambda: outbox.enqueue_event(device, "alarm", meta),
                      lambda message_id: self._called(str(message_id), online), self._call_failed)

    def _called(self, message_id: str, online: bool) -> None:
        log.info("staff call queued for the central (%s)", "online" if online else "offline")
        self._call_id = message_id
        self._poll.start()
        self._set_call("sending" if online else "queued")

    def _check_delivered(self) -> None:
        message_id, outbox = self._call_id, self._js.submitter.outbox
        if not message_id:
            self._poll.stop()
            return

        def state() -> str:
            row = outbox.find(message_id)
            return row.state if row is not None else ""

        def apply(found: Any) -> None:
            if message_id != self._call_id:
                return  # the session ended meanwhile
            if found == State.ACKED:
                self._poll.stop()
                self._set_call("sent")
            elif self._call_state == "queued" and self._js.online:
                self._set_call("sending")

        self._js.runner.run(state, apply, lambda _e: None)

    def _call_failed(self, error: BaseException) -> None:
        log.error("staff call not queued: %s", type(error).__name__)
        self._set_call("failed")

    def _set_call(self, state: str) -> None:
        if state == self._call_state:
            return
        self._call_state = state
        self.changed.emit()
        self._js.say(self.call_text())

    def _reset(self) -> None:
        self._poll.stop()
        self._call_state = ""
        self._call_id = ""
        self._called_at = 0.0
        self.changed.emit()
