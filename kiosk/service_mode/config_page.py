"""The settings page's view-model: the kiosk's settings (validated all or nothing, audited at the central,
applied live to the resident's screens) and the choice of camera, ID-card reader and printer
(drivers.json). The running drivers are wired into the resident's screens at start-up (signals, the
ID-card thread), so a device change is written and audited now and the new devices are built when the
kiosk restarts; the page says so rather than pretending to apply it live."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Property, Signal, Slot

from kiosk.service_mode import devices
from kiosk.service_mode.page_base import ServicePage
from sync.kiosk_config import ConfigError, apply_updates, load_config
from sync.kiosk_config import validate as apply_validate
from sync.protocol.commands import CONFIG_KEYS

if TYPE_CHECKING:
    from kiosk.service_mode.viewmodel import ServiceModeViewModel

log = logging.getLogger("kiosk.service")

CONFIG_LABELS = {"site_display_name": "svcSiteName", "idle_timeout_s": "svcIdle", "language_default": "svcLangDefault",
                 "elder_mode_default": "svcElderDefault", "heartbeat_interval_s": "svcHeartbeat",
                 "voice_volume": "svcVoiceVolume", "voice_muted": "svcVoice", "service_hotline": "svcHotline",
                 "data_budget_mb": "svcDataBudget"}


class ConfigPageViewModel(ServicePage):
    configChanged = Signal()
    devicesChanged = Signal()
    dev_root = Path("/dev")  # tests point these at real files in a temporary folder
    sys_root = Path("/sys")

    def __init__(self, shell: ServiceModeViewModel) -> None:
        super().__init__(shell)
        self._config: dict[str, Any] = load_config(shell.home)
        self._dev_roles: tuple[devices.RoleChoices, ...] = ()
        self._dev_pick: tuple[tuple[str, str], ...] = ()  # role -> chosen key, as pairs
        self._dev_note = ""

    def reload(self) -> None:
        self._config = load_config(self.shell.home)
        self.configChanged.emit()

    # == settings ====================================================================================

    @Property(dict, constant=True)
    def configRanges(self) -> dict[str, Any]:
        """Each setting's allowed values, for the controls (steppers, choices) and their labels."""
        return {k: {"lo": spec.lo, "hi": spec.hi, "maxLen": spec.max_len, "choices": list(spec.choices)}
                for k, spec in CONFIG_KEYS.items()}

    def _config_error(self, updates: dict[str, Any]) -> str:
        """The first refused setting, in the screen's language, with its allowed range."""
        s = self.s
        for key, value in updates.items():
            try:
                apply_validate({key: value})
            except ConfigError:
                spec = CONFIG_KEYS.get(key)
                name = s.get(CONFIG_LABELS.get(key, ""), key)
                if spec is not None and spec.kind is int:
                    return s["svcOutOfRange"].format(name=name, lo=spec.lo, hi=spec.hi)
                if spec is not None and spec.kind is str and spec.max_len:
                    return s["svcTooLong"].format(name=name, hi=spec.max_len)
                return s["svcBadValue"].format(name=name)
        return s["svcBadValue"].format(name="")

    @Property(dict, notify=configChanged)
    def config(self) -> dict[str, Any]:
        return self._config

    @Property(list, notify=configChanged)
    def hardwareSummary(self) -> list[str]:
        hw = self.shell.hw
        drivers = hw.drivers if hw is not None else None
        if drivers is None:
            return []
        return [f"{e.name}: {e.kind}" for e in drivers.entries]

    @Slot(dict)
    def saveConfig(self, values: dict[str, Any]) -> None:
        """Validate and write the changed settings (all or nothing), audit them, apply them live."""
        shell = self.shell
        shell.touch()
        current = load_config(shell.home)
        updates = {k: v for k, v in values.items() if str(v) != str(current.get(k))}
        if not updates:
            self.say(self.s["svcNoChange"])
            return
        try:
            version, config = apply_updates(shell.home, updates, source="technician")
        except ConfigError:
            self.say(self._config_error(updates), False)
            return
        device = shell.submitter.device
        if device is not None:
            shell.submitter.outbox.enqueue_event(device, "config_changed", {
                "keys": sorted(updates), "source": "technician", "config_version": version})
        log.info("settings changed by the technician: %s", ", ".join(sorted(updates)))
        self._config = config
        self.configChanged.emit()
        journey = shell.journey
        if journey is not None and hasattr(journey, "apply_settings"):
            journey.apply_settings(idle_timeout_s=float(config["idle_timeout_s"]),
                                   language=str(config["language_default"]),
                                   elder_mode=bool(config["elder_mode_default"]),
                                   voice_volume=int(config["voice_volume"]),
                                   voice_muted=bool(config["voice_muted"]))
        restart = {"heartbeat_interval_s", "data_budget_mb"} & set(updates)  # the sync daemon reads them at start
        self.say(self.s["svcSavedRestart"] if restart else self.s["svcSaved"])

    # == devices: camera, ID-card reader and printer choices (drivers.json) ==========================

    @Property(list, notify=devicesChanged)
    def deviceRoles(self) -> list[dict[str, Any]]:
        pick = dict(self._dev_pick)
        return [{"role": rc.role, "label": rc.label, "selected": pick.get(rc.role, rc.selected),
                 "choices": [{"key": c.key, "label": c.label} for c in rc.choices]} for rc in self._dev_roles]

    @Property(str, notify=devicesChanged)
    def devicesNote(self) -> str:
        return self._dev_note

    @Slot()
    def refreshDevices(self) -> None:
        """List what is plugged in now and select the current setting of every role."""
        try:
            self._dev_roles = tuple(devices.choices(self.shell.home, dev_root=self.dev_root,
                                                    sys_root=self.sys_root))
        except devices.DevicesError as exc:
            self._dev_roles = ()
            self.say(str(exc), False)
        self._dev_pick = ()
        self.devicesChanged.emit()

    @Slot(str, str)
    def chooseDevice(self, role: str, key: str) -> None:
        self.shell.touch()
        self._dev_pick = tuple({**dict(self._dev_pick), role: key}.items())
        self.devicesChanged.emit()

    @Slot()
    def saveDevices(self) -> None:
        """Validate (the device exists, the set builds) and write drivers.json atomically, then audit it."""
        shell = self.shell
        shell.touch()
        selection = {rc.role: dict(self._dev_pick).get(rc.role, rc.selected) for rc in self._dev_roles}
        try:
            changed = devices.change(shell.home, selection, dev_root=self.dev_root, sys_root=self.sys_root)
        except devices.DevicesError as exc:
            self.say(str(exc), False)
            return
        if not changed:
            self.say(self.s["svcNoChange"])
            return
        device = shell.submitter.device
        if device is not None:
            shell.submitter.outbox.enqueue_event(device, "config_changed", {
                "keys": ["drivers"], "source": "technician", "drivers_changed": changed})
        log.info("devices changed by the technician: %s", ", ".join(changed))
        self.refreshDevices()
        self._dev_note = self.s["svcDevicesRestart"]
        self.devicesChanged.emit()
        self.say(self.s["svcDevicesSaved"])
