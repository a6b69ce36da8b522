"""The journey's frame: which screen is shown, language and text size, the step indicator, leaving an
application, the idle countdown and the machine's state. Each screen has its own small view-model
(``*_vm.py``); they all share one :class:`~kiosk.journey.session_service.JourneySession`.

attract -> home (categories, search) -> item (guidance) -> identify (ID card / QR / photo / by hand)
-> form (prefilled) -> materials (photo, e-licence, 容缺) -> delivery -> review -> done (receipt)
-> rating (好差评) -> attract. Also: complaint, status lookup, paused, maintenance.

Personal data lives in one :class:`~kiosk.session.ResidentSession` (``JourneySession.data``) and is wiped
at submit, at the end of the session and after the idle countdown. Leaving a filled application (返回 to
the item, 首页) first asks "放弃本次办理？".
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Property, QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtQml import QmlElement

from kiosk.background import BackgroundRunner
from kiosk.catalog.model import Catalog, load_catalog
from kiosk.hardware import Hardware
from kiosk.journey import catalog_view as cv
from kiosk.journey.config import JourneyConfig
from kiosk.journey.session_service import (
    IDLE_SCREENS,
    SCREENS,
    JourneySession,
    log,
    optional_service,
)
from kiosk.journey.submitter import Submitter
from kiosk.session import ResidentSession

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1

__all__ = ["IDLE_SCREENS", "SCREENS", "JourneyViewModel"]

BACK = {"home": "attract", "item": "home", "identify": "item", "face": "identify", "form": "identify",
        "materials": "form",
        "delivery": "materials", "review": "delivery", "sign": "review", "complaint": "home", "status": "home"}

IDLE_SOON_S = 15  # the last seconds before the idle countdown, shown as a warning

@QmlElement
class JourneyViewModel(QObject):
    screenChanged = Signal()
    langChanged = Signal()
    elderChanged = Signal()
    itemChanged = Signal()
    busyChanged = Signal()
    errorChanged = Signal()
    onlineChanged = Signal()
    noticeChanged = Signal()
    idleChanged = Signal()
    thanksChanged = Signal()
    keyboardChanged = Signal()
    leaveChanged = Signal()

    def __init__(self, parent: QObject | None = None, submitter: Submitter | None = None,
                 catalog: Catalog | None = None, hardware: Hardware | None = None,
                 config: JourneyConfig | None = None) -> None:
        super().__init__(parent)
        js = optional_service(JourneySession) if submitter is None else None
        if js is None:  # made on its own (tests, tools): a session service of its own
            js = JourneySession(submitter or optional_service(Submitter),
                                catalog or optional_service(Catalog) or load_catalog(),
                                hardware if hardware is not None else optional_service(Hardware),
                                config or optional_service(JourneyConfig), parent=self)
        self._js: JourneySession = js
        self._leave_to = ""  # where 返回 / 首页 goes once the resident confirmed leaving the application
        self._idle_warning = False
        self._idle_left = 0
        self._idle_deadline = 0.0
        for mine, theirs in ((self.screenChanged, js.screenChanged), (self.langChanged, js.langChanged),
                             (self.elderChanged, js.elderChanged), (self.itemChanged, js.itemChanged),
                             (self.busyChanged, js.busyChanged), (self.errorChanged, js.errorChanged),
                             (self.onlineChanged, js.onlineChanged), (self.noticeChanged, js.noticeChanged),
                             (self.keyboardChanged, js.keyboardChanged), (self.thanksChanged, js.thanksChanged)):
            theirs.connect(mine)
        js.screenChanged.connect(self._screen_changed)
        js.sessionEnded.connect(self._session_ended)
        js.langChanged.connect(self.idleChanged)
        cfg = js.config
        self._thanks_timer = QTimer(self, singleShot=True, interval=int(cfg.thanks_return_s * 1000))
        self._thanks_timer.timeout.connect(self.endSession)
        self._idle_timer = QTimer(self, singleShot=True, interval=int(cfg.idle_timeout_s * 1000))
        self._idle_timer.timeout.connect(self._idle_expired)
        self._tick = QTimer(self, interval=max(20, min(250, int(cfg.countdown_s * 250))))
        self._tick.timeout.connect(self._countdown_tick)
        # A visible warning before the overlay: the last IDLE_SOON_S seconds of the idle time are counted
        # down in a bar at the top of the screen (idleSoonSeconds), checked twice a second.
        self._soon_left = 0
        self._soon = QTimer(self, interval=500)
        self._soon.timeout.connect(self._idle_soon_tick)
        self._soon.start()
        self._status_timer = QTimer(self, interval=cfg.status_poll_ms)
        self._status_timer.timeout.connect(self.refreshStatus)
        self._status_timer.start()
        self.refreshStatus()

    # == for Python: the shared service and what tests and tools reach ===============================

    @property
    def journey_session(self) -> JourneySession:
        return self._js

    @property
    def session(self) -> ResidentSession:
        return self._js.data

    @property
    def runner(self) -> BackgroundRunner:
        return self._js.runner

    @property
    def hardware(self) -> Hardware | None:
        return self._js.hw

    # == what every screen shows =====================================================================

    @Property(str, notify=screenChanged)
    def screen(self) -> str:
        return self._js.screen

    @Property(str, notify=langChanged)
    def language(self) -> str:
        return self._js.lang

    @Property(dict, notify=langChanged)
    def s(self) -> dict[str, str]:
        """The screen texts of the current language: ``journey.s.welcome``."""
        return self._js.s

    @Property(bool, notify=elderChanged)
    def elderMode(self) -> bool:
        return self._js.elder

    @Property(bool, notify=busyChanged)
    def busy(self) -> bool:
        return self._js.busy

    @Property(str, notify=errorChanged)
    def errorText(self) -> str:
        return self._js.error

    @Property(bool, notify=onlineChanged)
    def online(self) -> bool:
        return self._js.online

    @Property(str, notify=noticeChanged)
    def notice(self) -> str:
        """Why the machine is not taking applications (paused or maintenance screen)."""
        return self._js.notice

    @Property(str, notify=itemChanged)
    def itemName(self) -> str:
        return cv.item_name(self._js.item, self._js.lang)

    @Property(str, notify=keyboardChanged)
    def keyboardDataPath(self) -> str:
        """The virtual keyboard's user data folder of this session (wiped with the session)."""
        return QUrl.fromLocalFile(str(self._js.data.keyboard_dir)).toString()

    @Property(str, notify=keyboardChanged)
    def keyboardDataDir(self) -> str:
        return str(self._js.data.keyboard_dir)

    # == the step indicator ==========================================================================

    @Property(int, notify=screenChanged)
    def stepIndex(self) -> int:
        """Which step of the application this screen is (0-based among ``stepLabels``), -1 off the steps."""
        return self._js.step()

    @Property(bool, notify=screenChanged)
    def advanceOnRight(self) -> bool:
        """Where this screen's forward button sits: at the right on odd steps (and the item screen), in the
        middle on even ones, so two consecutive screens never have theirs in the same spot (a double tap
        on one never presses the next)."""
        step = self._js.step()
        return step < 0 or step % 2 == 1

    @Property(list, notify=screenChanged)
    def stepLabels(self) -> list[str]:
        return self._js.step_labels()

    # == navigation ==================================================================================

    @Slot()
    def start(self) -> None:
        if self._js.screen != "attract":
            return
        # Decide on the freshest state: refuse up front rather than after the resident has typed.
        self._js.runner.run(self._js.submitter.state, self._start_with_state, lambda _e: self._js.set_screen("home"))

    def _start_with_state(self, state: object) -> None:
        self._js.apply_state(state)  # type: ignore[arg-type]
        if self._js.screen == "attract":
            self._js.set_screen("home")

    @Slot()
    def back(self) -> None:
        js = self._js
        if js.screen == "delivery" and not js.data.materials:
            target = "form"
        elif js.screen == "form" and js.data.identity is not None:
            target = "item"  # going back past identification starts again with a new card
        else:
            target = BACK.get(js.screen, "attract")
        self._leave(target)

    @Slot()
    def goHome(self) -> None:
        self._leave("home")

    def _leave(self, target: str) -> None:
        js = self._js
        throws_away = target in ("attract", "home", "item")
        if throws_away and js.in_application and js.data.has_personal_data:
            self._leave_to = target  # ask first: "放弃本次办理？"
            self.leaveChanged.emit()
            return
        self._go(target)

    def _go(self, target: str) -> None:
        js = self._js
        js.set_error("")
        if target == "attract":
            self.endSession()
            return
        if target in ("home", "item"):
            js.wipe_personal()
        js.set_screen(target)

    @Property(bool, notify=leaveChanged)
    def confirmLeave(self) -> bool:
        """The "放弃本次办理？" question is open."""
        return bool(self._leave_to)

    @Slot()
    def abandonApplication(self) -> None:
        """The resident confirmed: throw the application away and go where 返回 / 首页 pointed."""
        target, self._leave_to = self._leave_to, ""
        self.leaveChanged.emit()
        if target:
            log.info("application abandoned by the resident")
            self._go(target)

    @Slot()
    def keepApplication(self) -> None:
        if self._leave_to:
            self._leave_to = ""
            self.leaveChanged.emit()

    @Slot()
    def toggleLanguage(self) -> None:
        self._js.set_language("en" if self._js.lang == "zh" else "zh")

    @Slot()
    def toggleElderMode(self) -> None:
        self._js.set_elder(not self._js.elder)

    @Property(str, notify=thanksChanged)
    def thanksText(self) -> str:
        return self._js.thanks

    @Slot()
    def endSession(self) -> None:
        """End the resident's session: forget everything and go back to the attract screen."""
        self._js.end_session()

    def end_session(self) -> None:  # the typed interface service mode uses (journey/control.py)
        self.endSession()

    def _session_ended(self) -> None:
        self._thanks_timer.stop()
        self._set_idle_warning(False)
        if self._leave_to:
            self._leave_to = ""
            self.leaveChanged.emit()

    def _screen_changed(self) -> None:
        if self._js.screen in IDLE_SCREENS:
            self._idle_timer.stop()
            self._set_idle_warning(False)
        else:
            self._idle_timer.start()
        if self._js.screen == "thanks":
            self._thanks_timer.start()
        else:
            self._thanks_timer.stop()

    # == idle ========================================================================================

    @Property(bool, notify=idleChanged)
    def idleWarning(self) -> bool:
        return self._idle_warning

    @Property(int, notify=idleChanged)
    def idleSecondsLeft(self) -> int:
        return self._idle_left

    @Property(str, notify=idleChanged)
    def idleText(self) -> str:
        return self._js.s["idleText"].format(n=self._idle_left)

    def _set_idle_warning(self, on: bool) -> None:
        if on != self._idle_warning:
            self._idle_warning = on
            if not on:
                self._tick.stop()
            self.idleChanged.emit()

    @Slot()
    def touch(self) -> None:
        """Any touch: the resident is here. Dismisses the countdown and restarts the idle timer."""
        if self._js.screen in IDLE_SCREENS:
            return
        self._set_idle_warning(False)
        self._idle_timer.start()

    def _idle_expired(self) -> None:
        if self._js.screen in IDLE_SCREENS:
            return
        cfg = self._js.config
        self._idle_deadline = time.monotonic() + cfg.countdown_s
        self._idle_left = math.ceil(cfg.countdown_s)
        self._set_idle_warning(True)
        self._tick.start()
        self._js.say(self._js.s["idleTitle"])

    @Property(int, notify=idleChanged)
    def idleSoonSeconds(self) -> int:
        """Seconds until the idle countdown appears, during its last IDLE_SOON_S seconds; else 0."""
        return self._soon_left

    def _idle_soon_tick(self) -> None:
        running = self._idle_timer.isActive() and not self._idle_warning
        left = self._idle_timer.remainingTime() if running else -1
        n = math.ceil(left / 1000) if 0 <= left <= IDLE_SOON_S * 1000 else 0
        if n != self._soon_left:
            self._soon_left = n
            self.idleChanged.emit()

    def _countdown_tick(self) -> None:
        left = self._idle_deadline - time.monotonic()
        if left <= 0:
            log.info("session ended after the idle countdown")
            self.endSession()
            return
        n = math.ceil(left)
        if n != self._idle_left:
            self._idle_left = n
            self.idleChanged.emit()

    # == machine state and settings ==================================================================

    @Slot()
    def refreshStatus(self) -> None:
        self.refresh_status()

    def refresh_status(self) -> None:
        self._js.refresh_state()

    def apply_settings(self, *, idle_timeout_s: float, language: str, elder_mode: bool,
                       voice_volume: int | None = None, voice_muted: bool | None = None) -> None:
        """New settings from the technician's screen, without a restart: the idle time-out and the voice
        at once; language and text size only while nobody is in a session (never under a resident's hands)."""
        self._idle_timer.setInterval(int(idle_timeout_s * 1000))
        self._js.apply_settings(idle_timeout_s=idle_timeout_s, language=language, elder_mode=elder_mode,
                                voice_volume=voice_volume, voice_muted=voice_muted)

    def shutdown(self) -> None:
        self._status_timer.stop()
        self._thanks_timer.stop()
        self._idle_timer.stop()
        self._tick.stop()
        self._soon.stop()
        self._js.shutdown()
