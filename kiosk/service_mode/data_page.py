"""The data page's view-model: how many applications are undelivered or not yet exported, their export
as sealed envelopes onto a USB stick, a signed software update from a stick (issue 17's USB path), and
the factory reset, refused while undelivered data is not exported. Re-provisioning on this page is the
enrolment's (enrol_page.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Property, Signal, Slot

from kiosk.service_mode import data
from kiosk.service_mode.page_base import ServicePage
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel

log = logging.getLogger("kiosk.service")


class DataPageViewModel(ServicePage):
    dataChanged = Signal()

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._undelivered = 0
        self._not_exported = 0

    @Property(int, notify=dataChanged)
    def undelivered(self) -> int:
        return self._undelivered

    @Property(int, notify=dataChanged)
    def notExported(self) -> int:
        return self._not_exported

    @Property(str, notify=dataChanged)
    def undeliveredText(self) -> str:
        return self.s["svcUndelivered"].format(n=self._undelivered, m=self._not_exported)

    def refresh(self) -> None:
        outbox, home = self.shell.submitter.outbox, self.shell.home
        self.shell.runner.run(lambda: (len(data.undelivered_ids(outbox)), data.not_exported(home, outbox)),
                              self._counts, lambda _e: None)

    def _counts(self, counts: tuple[int, int]) -> None:
        self._undelivered, self._not_exported = counts
        self.dataChanged.emit()

    def failed(self, exc: BaseException) -> None:
        """An export (of data or logs) or a USB update failed: said in plain words."""
        self.shell.set_busy(False)
        if isinstance(exc, data.DataError):
            self.say(exc.message, False)
        else:
            self.say(self.s["svcFailed"].format(e=type(exc).__name__), False)

    @Slot(str)
    def applyUsbUpdate(self, folder: str) -> None:
        """The USB path (issue 17): stage the newest signed release on the stick (``folder``, or the mounted
        sticks) for the sync daemon, which verifies it and installs it through the health gate."""
        from kiosk.service_mode import usb_update

        shell = self.shell
        shell.touch()
        home = shell.home
        roots = (Path(folder),) if folder.strip() else usb_update.MOUNT_ROOTS

        def stage() -> str:
            found = usb_update.find_releases(roots)
            if not found:
                return ""
            usb_update.stage(home, found[-1])
            return found[-1].version

        shell.set_busy(True)
        shell.runner.run(stage, self._usb_staged, self.failed)

    def _usb_staged(self, version: str) -> None:
        self.shell.set_busy(False)
        if version:
            self.say(self.s["svcUsbStaged"].format(version=version))
        else:
            self.say(self.s["svcUsbNone"], False)

    @Slot(str)
    def exportUndelivered(self, folder: str) -> None:
        shell = self.shell
        shell.touch()
        shell.remember_export_folder(folder)
        outbox, home, device = shell.submitter.outbox, shell.home, shell.device
        shell.set_busy(True)
        shell.runner.run(lambda: data.export_undelivered(home, outbox, folder, device), self._exported,
                         self.failed)

    def _exported(self, result: data.ExportResult) -> None:
        self.shell.set_busy(False)
        self.say(self.s["svcExportedData"].format(n=result.count, k=result.submissions, path=result.folder))
        self.refresh()

    @Slot()
    def factoryReset(self) -> None:
        """Confirmed on screen; refused while undelivered data is not exported. The sync daemon stops first
        (nothing more is sent under the identity being wiped), then identity, secrets, PIN, outbox and
        settings go, and the kiosk shows first run."""
        shell = self.shell
        shell.touch()
        if shell.busy:
            return
        outbox, home, sync = shell.submitter.outbox, shell.home, shell.sync
        try:
            if data.not_exported(home, outbox):
                raise data.DataError("undelivered", self.s["svcResetRefused"])
        except data.DataError as exc:
            self.say(exc.message, False)
            self.refresh()
            return
        shell.hardware_use.stop()
        shell.set_busy(True)
        self.say(self.s["svcResetWorking"])

        def reset() -> Outbox:
            sync.hold(outbox)
            data.factory_reset(home, outbox)
            fresh = Outbox(home / OUTBOX_FILE)  # the resident's side keeps a working (empty) outbox
            sync.release(fresh, None)
            return fresh

        shell.slow.run(reset, self._reset_done, self._reset_error)

    def _reset_done(self, fresh: Outbox) -> None:
        shell = self.shell
        shell.set_busy(False)
        shell.submitter.outbox = fresh
        shell.submitter.device = cast(DeviceConfig, None)
        shell.device = None
        shell.pin_page.restart_first_run()
        shell.config_page.reload()
        shell.set_mode("firstrun")
        self.say(self.s["svcResetDone"] + self.s["svcSentenceSep"] + self.s["svcPinNew"])
        self.refresh()

    def _reset_error(self, exc: BaseException) -> None:
        self.shell.set_busy(False)
        if isinstance(exc, data.DataError):
            self.say(exc.message, False)
        else:
            log.warning("factory reset failed: %s", type(exc).__name__)
            self.say(self.s["svcResetFailed"].format(e=type(exc).__name__), False)
        self.refresh()
