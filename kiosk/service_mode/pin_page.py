"""The service PIN pad's view-model: typing the PIN, back-off and lock-out (with its alarm at the central),
and setting a new PIN (first run, or after the central reset it). The PIN itself is never logged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Property, QTimer, Signal, Slot

from kiosk.service_mode.page_base import ServicePage
from kiosk.service_mode.pin import Attempt, PinError
from sync.outbox.models import State

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel

log = logging.getLogger("kiosk.service")

LOCKOUT_ALARM_STATE = "pin_lockout_alarm"  # the queued lock-out alarm's message id, until the PIN is accepted
MAX_PIN_LENGTH = 12


class PinPageViewModel(ServicePage):
    pinChanged = Signal()

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._pin = ""
        self._first_step = "pin"  # first run: pin -> pinConfirm -> provision
        self._pin_first = ""
        self._new_pin_hash: str | None = None  # first run: held until the central confirms
        self._then_open = False
        self._lock_alarm_sent = False
        self._alarm_timer = QTimer(self, interval=1000)
        self._alarm_timer.timeout.connect(self._poll_lock_alarm)

    @Property(int, notify=pinChanged)
    def pinLength(self) -> int:
        return len(self._pin)

    @Property(str, notify=pinChanged)
    def firstRunStep(self) -> str:
        return self._first_step

    @property
    def first_step(self) -> str:
        return self._first_step

    def open(self) -> None:
        """The gesture was made: the pad opens, saying whether the PIN may be tried now."""
        self._pin = ""
        self.pinChanged.emit()
        status = self.shell.pins.status()
        self.say(self._status_text(status), status.code == "ok")
        self.shell.set_mode("pin")
        if status.code == "locked":
            self._alarm_timer.start()
            self._poll_lock_alarm()
        log.info("service PIN pad opened")

    def clear(self) -> None:
        """The service mode closes: nothing typed stays."""
        self._pin = ""
        self._first_step = "pin"
        self._pin_first = ""
        self.pinChanged.emit()

    def restart_first_run(self) -> None:
        """After a factory reset: a new PIN is set from the start."""
        self._new_pin_hash = None
        self._first_step = "pin"
        self.pinChanged.emit()

    def keep_new_pin(self) -> None:
        """The enrolment was kept: the PIN set for it in first run is stored."""
        if self.shell.mode == "firstrun" and self._new_pin_hash is not None:
            self.shell.pins.store_hash(self._new_pin_hash)
            self._new_pin_hash = None
        self._first_step = "pin"
        self.pinChanged.emit()

    def stop_polling(self) -> None:
        self._alarm_timer.stop()

    def _status_text(self, a: Attempt) -> str:
        s = self.s
        if a.code == "no_pin":
            return s["svcPinReset"] if self.shell.pins.reset_pending() else s["svcPinNone"]
        if a.code in ("locked", "locked_now"):
            # Says the central has the alarm only once its ack came back (see _poll_lock_alarm).
            alarm = s["svcAlarmSent"] if self._lock_alarm_sent else s["svcAlarmQueued"]
            return s["svcPinLocked"].format(m=max(1, round(a.wait_s / 60))) + s["svcClauseSep"] + alarm
        if a.code == "wait":
            return s["svcPinWait"].format(s=max(1, round(a.wait_s)))
        if a.code == "wrong":
            return s["svcPinWrong"].format(n=a.tries_left, s=max(1, round(a.wait_s)))
        return s["svcPinTitle"]

    @Slot(str)
    def pinDigit(self, digit: str) -> None:
        self.shell.touch()
        if digit.isdigit() and len(digit) == 1 and len(self._pin) < MAX_PIN_LENGTH:
            self._pin += digit
            self.pinChanged.emit()

    @Slot()
    def pinBackspace(self) -> None:
        self.shell.touch()
        self._pin = self._pin[:-1]
        self.pinChanged.emit()

    @Slot()
    def pinCancel(self) -> None:
        self._pin = ""
        self.pinChanged.emit()
        if self.shell.mode == "pin":
            self.shell.close()
        elif self.shell.mode == "firstrun" and self._first_step == "pinConfirm":
            self._first_step = "pin"
            self.say(self.s["svcPinNew"])

    @Slot()
    def pinSubmit(self) -> None:
        pin, self._pin = self._pin, ""
        self.pinChanged.emit()
        shell = self.shell
        if shell.mode == "firstrun":
            self._set_new_pin(pin)
            return
        if shell.mode != "pin" or shell.busy:
            return
        if not shell.pins.has_pin():
            if shell.pins.reset_pending():  # reset by the central (signed command): set a new one, twice
                self._set_new_pin(pin, then_open=True)
            return
        status = shell.pins.status()
        if status.code != "ok":
            self.say(self._status_text(status), False)
            return
        shell.set_busy(True)
        self.say(self.s["svcPinChecking"])
        shell.runner.run(lambda: self._check_pin(pin), self._pin_checked, self._pin_error)

    def _check_pin(self, pin: str) -> Attempt:
        shell = self.shell
        attempt = shell.pins.check(pin)
        device, outbox, policy = shell.submitter.device, shell.submitter.outbox, shell.settings.pin_policy
        if attempt.code == "locked_now":
            log.warning("service PIN locked out after %d wrong tries", policy.max_tries)
            self._lock_alarm_sent = False
            if device is not None:
                alarm_id = outbox.enqueue_alarm(
                    device, "service_pin_lockout",
                    f"{policy.max_tries} wrong service PINs; locked for {int(policy.lockout_s)} s", "critical")
                outbox.set_states({LOCKOUT_ALARM_STATE: alarm_id})
        elif attempt.ok and device is not None and outbox.states().get(LOCKOUT_ALARM_STATE):
            # The right PIN after a lock-out: the alarm at the central clears (kiosk alarms clear by event).
            outbox.enqueue_event(device, "alarm_cleared", {"code": "service_pin_lockout",
                                                           "by": "service PIN accepted"})
            outbox.set_states({LOCKOUT_ALARM_STATE: ""})
            log.info("service PIN accepted after a lock-out: the alarm is cleared")
        elif attempt.code == "wrong":
            log.info("wrong service PIN (%d tries left)", attempt.tries_left)
        return attempt

    def _pin_checked(self, attempt: Attempt) -> None:
        self.shell.set_busy(False)
        if attempt.code == "locked_now":
            self._alarm_timer.start()
        if attempt.ok:
            self.shell.enter_service()
        else:
            self.say(self._status_text(attempt), False)

    def _pin_error(self, exc: BaseException) -> None:
        self.shell.set_busy(False)
        self.say(self.s["svcPinWait"].format(s=1) + f" ({type(exc).__name__})", False)

    def _poll_lock_alarm(self) -> None:
        outbox = self.shell.submitter.outbox

        def acked() -> bool:
            alarm_id = outbox.states().get(LOCKOUT_ALARM_STATE) or ""
            row = outbox.find(alarm_id) if alarm_id else None
            return row is not None and row.state == State.ACKED

        self.shell.runner.run(acked, self._lock_alarm_state, lambda _e: None)

    def _lock_alarm_state(self, sent: bool) -> None:
        if sent != self._lock_alarm_sent:
            self._lock_alarm_sent = sent
            status = self.shell.pins.status()
            if self.shell.mode == "pin" and status.code == "locked":
                self.say(self._status_text(status), False)
        if sent:
            self._alarm_timer.stop()

    # == a new PIN: typed twice =======================================================================

    def _set_new_pin(self, pin: str, then_open: bool = False) -> None:
        """First run holds the new PIN until the enrolment is confirmed; a PIN the central reset
        (``then_open``) is stored at once and the service mode opens."""
        self._then_open = then_open
        if self._first_step == "pin":
            try:
                self.shell.pins.hash_pin(pin)  # only the rules here; hashed again on confirmation
            except PinError as exc:
                self.say(str(exc), False)
                return
            self._pin_first = pin
            self._first_step = "pinConfirm"
            self.pinChanged.emit()
            self.say(self.s["svcPinAgain"])
        elif self._first_step == "pinConfirm":
            first, self._pin_first = self._pin_first, ""
            if pin != first:
                self._first_step = "pin"
                self.pinChanged.emit()
                self.say(self.s["svcPinMismatch"], False)
                return
            self.shell.set_busy(True)
            self.shell.runner.run(lambda: self.shell.pins.hash_pin(pin), self._new_pin_hashed, self._pin_error)

    def _new_pin_hashed(self, pin_hash: str) -> None:
        self.shell.set_busy(False)
        if self._then_open:
            self.shell.pins.store_hash(pin_hash)
            self._first_step = "pin"
            self.pinChanged.emit()
            log.info("a new service PIN was set after a reset by the central")
            self.shell.enter_service()
            return
        self._new_pin_hash = pin_hash
        self._first_step = "provision"
        self.pinChanged.emit()
        self.say(self.s["svcFirstRunNote"])
