"""The journey-session service: what every screen's view-model shares, and the one place that wipes.

One :class:`JourneySession` per window, provided to the view-models through :mod:`kiosk.services` (as
mpvQC injects its services). It holds the resident's data (a :class:`~kiosk.session.ResidentSession`),
the chosen item, the language and text size, the current screen and its error, the machine's state and
the receipt of the last submission. The screens' view-models (``*_vm.py``) keep only what their screen
shows and rebuild it from here; they listen to :attr:`wiped` / :attr:`sessionEnded` to drop it.

Screen changes are recorded with their time: taps within ``JourneyConfig.tap_guard_s`` (500 ms) of a
screen change are ignored (:meth:`tap_allowed`), so a double tap never acts on the screen it brought up.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from drivers.interfaces import IdentityRecord
from kiosk.background import BackgroundRunner
from kiosk.camera.preview import PreviewStore
from kiosk.catalog.model import Catalog, CatalogError, ServiceItem
from kiosk.catalog.reload import newer_installed
from kiosk.hardware import Hardware
from kiosk.i18n import table
from kiosk.journey import catalog_view as cv
from kiosk.journey.config import JourneyConfig
from kiosk.journey.submitter import MachineState, Submitter
from kiosk.journey.voice import SCREEN_PROMPTS, SILENT_ON_ENTRY, Voice
from kiosk.session import ResidentSession
from sync.outbox.store import Receipt

log = logging.getLogger("kiosk.journey")

SCREENS = ("attract", "home", "item", "identify", "face", "form", "materials", "delivery", "review", "sign", "done",
           "rating", "complaint", "status", "thanks", "paused", "maintenance")
# Screens where nobody is in the middle of something: the machine state may replace them.
IDLE_SCREENS = ("attract", "paused", "maintenance")
# The steps of an application, shown by the step indicator on each of their screens.
STEPS = (("identify", "stepIdentify"), ("form", "stepForm"), ("materials", "stepMaterials"),
         ("delivery", "stepDelivery"), ("review", "stepReview"), ("done", "stepDone"))

DeviceNeeds = Callable[[], dict[str, bool]]


class JourneySession(QObject):
    screenChanged = Signal()
    langChanged = Signal()
    elderChanged = Signal()
    itemChanged = Signal()
    busyChanged = Signal()
    errorChanged = Signal()
    onlineChanged = Signal()
    noticeChanged = Signal()
    identityChanged = Signal()
    deliveryChanged = Signal()
    receiptChanged = Signal()
    keyboardChanged = Signal()
    thanksChanged = Signal()
    applicationStarted = Signal()  # the resident chose "办理此事项": fields and materials of the item
    submitRequested = Signal()  # the signing screen confirmed a signature: the review's submission goes ahead
    wiped = Signal()  # the resident's data is gone: drop whatever was derived from it
    sessionEnded = Signal()  # back to the attract screen: reset everything of the last resident

    def __init__(self, submitter: Submitter, catalog: Catalog, hardware: Hardware | None = None,
                 config: JourneyConfig | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.submitter = submitter
        self.catalog = catalog
        self.hw = hardware
        self.config = config or JourneyConfig()
        previews = hardware.previews if hardware is not None else PreviewStore()
        self.data = ResidentSession.create(previews, self.config.keyboard_root)
        self.runner = BackgroundRunner(self)
        self.voice = (Voice(self, volume=self.config.voice_volume, muted=self.config.voice_muted)
                      if self.config.voice else None)
        self.lang = self.config.language
        self.s = table(self.lang)
        self.elder = self.config.elder_mode
        self.item: ServiceItem = catalog.items[0]
        self.screen = "attract"
        self.screen_since = 0.0  # time.monotonic() of the last screen change
        self.error = ""
        self.busy = False
        self.online = False
        self.notice = ""
        self.state: MachineState | None = None
        self.receipt: Receipt | None = None
        self.submitted_online = False
        self.thanks = ""  # the text of the thank-you screen
        self.receipt_details: dict[str, Any] = {}  # what the printed receipt lists besides the receipt itself
        self.device_needs: dict[str, DeviceNeeds] = {}  # screen -> which devices it wants now
        self.spoken: dict[str, Callable[[], str]] = {}  # screen -> its prompt

    # == screen ======================================================================================

    def set_screen(self, screen: str) -> None:
        assert screen in SCREENS, screen
        if screen == self.screen:
            return
        if (screen in IDLE_SCREENS) != (self.screen in IDLE_SCREENS):
            self._publish_session(screen not in IDLE_SCREENS)
        self.screen = screen
        self.screen_since = time.monotonic()
        self.apply_devices()
        self.screenChanged.emit()
        self._speak_for(screen)

    def tap_allowed(self) -> bool:
        """False for a tap that arrives within the guard time of a screen change (a double tap's second
        half, a finger still on the glass): it was meant for the screen before."""
        return time.monotonic() - self.screen_since >= self.config.tap_guard_s

    @property
    def in_application(self) -> bool:
        """A resident is part-way through an application: leaving it throws their input away."""
        return self.screen in ("face", "form", "materials", "delivery", "review", "sign") or (
            self.screen == "identify" and self.data.has_personal_data)

    def _steps(self) -> list[tuple[str, str]]:
        with_materials = bool(cv.item_materials(self.item))
        return [(screen, key) for screen, key in STEPS if screen != "materials" or with_materials]

    def step(self) -> int:
        """The current screen's place among the application's steps (-1 for a screen that is none)."""
        # signing is part of 核对提交, the face check (人证核验) part of 核验身份
        here = {"sign": "review", "face": "identify"}.get(self.screen, self.screen)
        return next((i for i, (screen, _key) in enumerate(self._steps()) if screen == here), -1)

    def step_labels(self) -> list[str]:
        return [self.s[key] for _screen, key in self._steps()]

    def _publish_session(self, active: bool) -> None:
        """Software updates (sync.ota) switch releases only between residents' sessions: they read this."""
        try:
            self.submitter.outbox.set_states({"session_active": "1" if active else "0",
                                              "session_changed": str(time.time())})
        except Exception as exc:  # a busy database must not stop the resident
            log.warning("could not record the session state: %s", type(exc).__name__)

    def set_error(self, text: str) -> None:
        if text != self.error:
            self.error = text
            self.errorChanged.emit()

    def set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit()

    def set_notice(self, text: str) -> None:
        if text != self.notice:
            self.notice = text
            self.noticeChanged.emit()

    def set_online(self, online: bool) -> None:
        if online != self.online:
            self.online = online
            self.onlineChanged.emit()

    # == language and text size ======================================================================

    def set_language(self, lang: str) -> None:
        if lang == self.lang:
            return
        self.lang = lang
        self.s = table(lang)
        self.langChanged.emit()
        self.itemChanged.emit()

    def set_elder(self, elder: bool) -> None:
        if elder != self.elder:
            self.elder = elder
            if self.voice is not None:
                self.voice.enabled = True
            self.elderChanged.emit()

    # == the item and the application ================================================================

    def open_item(self, code: str) -> bool:
        try:
            self.item = self.catalog.item(code)
        except CatalogError:  # a tile of an item the catalogue no longer has
            return False
        self.set_error("")
        self.itemChanged.emit()
        return True

    def start_application(self) -> None:
        self.data.materials = cv.item_materials(self.item)
        self.data.delivery = cv.item_delivery(self.item)[0]
        self.applicationStarted.emit()
        self.deliveryChanged.emit()

    def set_identity(self, record: IdentityRecord) -> None:
        self.data.identity = record
        self.identityChanged.emit()
        log.info("resident identified (source %s)", record.source)

    def item_name(self, code: str) -> str:
        try:
            return cv.item_name(self.catalog.item(code), self.lang)
        except Exception:  # an item this kiosk's catalogue does not have: its code is all there is
            return code

    def thank(self, text: str) -> None:
        """The thank-you screen (after a rating or a complaint); it returns to the attract screen by itself."""
        self.thanks = text
        self.thanksChanged.emit()
        self.set_screen("thanks")

    # == wiping ======================================================================================

    def wipe_personal(self) -> None:
        had_keyboard = self.data.keyboard_dir
        self.data.wipe()
        self.wiped.emit()
        self.identityChanged.emit()
        self.deliveryChanged.emit()
        if had_keyboard != self.data.keyboard_dir:
            self.keyboardChanged.emit()

    def end_session(self) -> None:
        """Forget everything of this resident and go back to the attract screen."""
        self.wipe_personal()
        self.receipt = None
        self.submitted_online = False
        self.receipt_details = {}
        self.receiptChanged.emit()
        self._pick_up_catalog()
        self.set_error("")
        self.sessionEnded.emit()
        self.set_language(self.config.language)  # the next resident starts in the kiosk's own settings
        self.set_elder(self.config.elder_mode)
        self.set_screen("attract")
        if self.state is not None:
            self.apply_state(self.state)

    def _pick_up_catalog(self) -> None:
        """Between sessions: a catalogue the central installed meanwhile replaces this one (catalog/reload.py)."""
        device = self.submitter.device
        newer = newer_installed(self.submitter.outbox, device.command_public_key if device else None,
                                self.catalog.version)
        if newer is not None:
            self.catalog = newer
            self.item = newer.items[0]
            self.itemChanged.emit()

    # == devices and voice ===========================================================================

    def apply_devices(self) -> None:
        if self.hw is None:
            return
        needs = self.device_needs.get(self.screen)
        self.hw.use(**(needs() if needs else {}))

    def say(self, text: str) -> None:
        if self.voice is not None and text:
            self.voice.say(text)

    def _speak_for(self, screen: str) -> None:
        if self.voice is None:
            return
        if screen in SILENT_ON_ENTRY:  # nobody is standing there; the 🔊 button still says it
            return
        prompt = self.spoken.get(screen)
        if prompt is not None:
            self.say(prompt())
            return
        key = SCREEN_PROMPTS.get(screen)  # every screen has one (kiosk.journey.voice)
        if key:
            self.say(self.s[key])

    # == machine state ===============================================================================

    def refresh_state(self) -> None:
        self.runner.run(self.submitter.state, self.apply_state, lambda _e: self.set_online(False))

    def apply_state(self, state: MachineState) -> None:
        self._follow_settings(state)
        self.state = state
        self.set_online(state.online)
        if state.maintenance:
            # Never interrupt a resident mid-application; the next one sees the maintenance screen.
            if self.screen in IDLE_SCREENS:
                self.set_notice(state.maintenance_message or self.s["maintenanceDefault"])
                self.set_screen("maintenance")
        elif state.refusal_code:
            if self.screen in ("attract", "home", "item", "maintenance"):
                self.set_notice(state.refusal_message)
                self.wipe_personal()
                self.set_screen("paused")
        elif self.screen in ("paused", "maintenance"):
            self.set_notice("")
            self.set_screen("attract")

    def _follow_settings(self, state: MachineState) -> None:
        """Settings changed outside this process (`kiosk config set`, the central's config command through
        the sync daemon) apply live, as the service mode's do: voice at once, the rest between residents."""
        before = self.state
        if before is None or state.config is None or state.config_version == before.config_version:
            return
        c = state.config
        log.info("settings version %d applied live", state.config_version)
        self.apply_settings(idle_timeout_s=float(c["idle_timeout_s"]), language=str(c["language_default"]),
                            elder_mode=bool(c["elder_mode_default"]), voice_volume=int(c["voice_volume"]),
                            voice_muted=bool(c["voice_muted"]))

    def apply_settings(self, *, idle_timeout_s: float, language: str, elder_mode: bool,
                       voice_volume: int | None = None, voice_muted: bool | None = None) -> None:
        self.config = dataclasses.replace(self.config, idle_timeout_s=idle_timeout_s, language=language,
                                          elder_mode=elder_mode)
        if self.voice is not None and (voice_volume is not None or voice_muted is not None):
            self.voice.configure(volume=voice_volume, muted=voice_muted)  # at once: it only changes sound
        if self.screen in IDLE_SCREENS:  # never under a resident's hands
            self.set_language(language)
            self.set_elder(elder_mode)

    def shutdown(self) -> None:
        if self.voice is not None:
            self.voice.stop()
        if self.hw is not None:
            self.hw.use()
        self.runner.shutdown()
        self.data.close()


def optional_service(kind: type) -> Any:
    from kiosk import services

    try:
        return services.get(kind)
    except services.MissingService:
        return None


def session_service() -> JourneySession:
    """The window's journey session (provided by ``kiosk.app.load_ui``), for the view-models QML creates."""
    from kiosk import services

    return services.get(JourneySession)


class ScreenViewModel(QObject):
    """Base of the screens' view-models: created by QML (``FormViewModel { }``), they take the window's
    journey session from the services; tests may hand one in."""

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent)
        self._js = session or session_service()

    @property
    def journey_session(self) -> JourneySession:
        return self._js
