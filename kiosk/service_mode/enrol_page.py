"""Enrolment's view-model: provisioning with the central's token (scanned or typed), in first run or again
from the data page, and the final screen that says device, site and "online at the central" or why not."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Property, QTimer, Signal, Slot

from kiosk.hardware import SCANNER
from kiosk.service_mode import data, network
from kiosk.service_mode.page_base import ServicePage
from kiosk.service_mode.provisioning import drop_unconfirmed_enrolment, provision
from sync.kiosk_config import load_config
from sync.outbox.status import daemon_connected

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel

log = logging.getLogger("kiosk.service")


class EnrolPageViewModel(ServicePage):
    doneChanged = Signal()

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._done: dict[str, Any] = {}
        self._done_since = 0.0
        self._online_timer = QTimer(self, interval=shell.settings.online_poll_ms)
        self._online_timer.timeout.connect(self._poll_online)

    def stop_polling(self) -> None:
        self._online_timer.stop()

    # == provisioning =================================================================================

    @Slot()
    def scanToken(self) -> None:
        """Look for the enrolment QR with the scanner camera (live preview on)."""
        shell = self.shell
        shell.touch()
        if shell.hw is None or not shell.hw.has_scanner:
            self.say(self.s["svcNoHardware"], False)
            return
        shell.hardware_use.show_camera(SCANNER, scan=True, purpose="token")
        self.say(self.s["svcScanToken"])

    @Slot(str)
    def provisionToken(self, token: str) -> None:
        shell = self.shell
        shell.touch()
        token = token.strip()
        if shell.busy:
            return
        if shell.mode == "firstrun" and shell.pin_page.first_step != "provision":
            return
        if not token:
            self.say(self.s["svcToken"] + "?", False)
            return
        shell.hardware_use.stop()
        shell.set_busy(True)
        self.say(self.s["svcProvisioning"])
        shell.slow.run(lambda: self._provision(token), self._provisioned, self._provision_error)

    def _provision(self, token: str) -> Any:
        shell = self.shell
        outbox = shell.submitter.outbox
        drop_unconfirmed_enrolment(outbox)  # an earlier try the central never answered is no resident's data
        if shell.mode == "service":  # re-provisioning: only what a verified export holds may go
            if data.not_exported(shell.home, outbox):
                return data.DataError("undelivered", self.s["svcProvisionNeedsExport"])
            data.drop_exported(shell.home, outbox)
        return provision(shell.home, token, timeout_s=shell.settings.provision_timeout_s, sync=shell.sync,
                         outbox=outbox)

    def _provisioned(self, result: Any) -> None:
        shell = self.shell
        shell.set_busy(False)
        if isinstance(result, data.DataError):
            self.say(result.message, False)
            return
        shell.reload_device()  # the new identity, or the one restored after a refusal
        if not result.ok and result.code != "pending":
            self.say(result.message, False)
            return
        log.info("provisioned as %s (%s)", result.device_id, result.code)
        shell.pin_page.keep_new_pin()  # the identity is kept: so is the PIN set for it
        shell.end_resident_session()
        self._show_done(result.ok)
        shell.data_page.refresh()

    def _provision_error(self, exc: BaseException) -> None:
        self.shell.set_busy(False)
        log.warning("provisioning failed: %s", type(exc).__name__)
        self.say(self.s["svcProvisionFailed"].format(e=type(exc).__name__), False)

    # == the final screen: device, site, and "online at the central" or why not =========================

    @Property(dict, notify=doneChanged)
    def done(self) -> dict[str, Any]:
        return self._done

    def _show_done(self, confirmed: bool) -> None:
        shell = self.shell
        device = shell.device
        self._done = {"deviceId": device.device_id if device else "", "site": device.site if device else "",
                      "siteName": str(load_config(shell.home).get("site_display_name") or ""),
                      "confirmed": confirmed, "online": False, "checking": True,
                      "status": self.s["svcDoneChecking"] if confirmed else self.s["svcDonePending"],
                      "reason": ""}
        self._done_since = time.time()
        self.doneChanged.emit()
        self.say("")
        shell.set_mode("done")
        self._online_timer.start()
        self._poll_online()

    def _poll_online(self) -> None:
        outbox, since, sync = self.shell.submitter.outbox, self._done_since, self.shell.sync

        def look() -> tuple[bool, dict[str, Any] | None, bool]:
            states = outbox.states()
            error = network.connect_error(outbox)
            fresh = error if error is not None and float(error.get("at", 0)) >= since - 1 else None
            return daemon_connected(states, time.time()), fresh, sync.running(outbox)

        self.shell.runner.run(look, self._online_state, lambda _e: None)

    def _online_state(self, state: tuple[bool, dict[str, Any] | None, bool]) -> None:
        if self.shell.mode != "done":
            return
        online, error, running = state
        done = dict(self._done)
        done["online"] = online
        if online:
            done.update(checking=False, reason="", status=self.s["svcDoneOnline"])
        elif error is not None:
            done.update(checking=False, reason=network.explain_connect_error(error))
        elif not running and time.time() - self._done_since > 5:
            done.update(checking=False, reason=self.s["svcDaemonDownHint"])
        if done != self._done:
            self._done = done
            self.doneChanged.emit()
            if online:
                log.info("online at the central after the enrolment (%.1f s)", time.time() - self._done_since)
                control = self.shell.journey_control()
                if control is not None:  # the header's badge says so too, not a poll later
                    control.refresh_status()

    @Slot()
    def retryOnline(self) -> None:
        """The final screen's retry: the daemon reconnects at once (started again if it is not running)."""
        shell = self.shell
        shell.touch()
        outbox, device, sync = shell.submitter.outbox, shell.device, shell.sync

        def retry() -> None:
            network.request_retry(outbox)
            if device is not None and not sync.running(outbox):
                sync.release(outbox, device)

        self._done = {**self._done, "checking": True, "reason": "", "status": self.s["svcDoneChecking"]}
        self._done_since = time.time()
        self.doneChanged.emit()
        shell.runner.run(retry, lambda _r: self._poll_online(), lambda _e: None)

    @Slot()
    def finishDone(self) -> None:
        if self.shell.mode == "done":
            self.shell.close()
