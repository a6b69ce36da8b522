"""The kiosk's side of signed commands: verify, refuse replays, execute, and always report.

:class:`CommandExecutor` is the ``command_handler`` of :class:`~sync.daemon.service.SyncDaemon`; it runs
on the daemon's paho thread, so it never raises. Every command that arrives gets one ``command_result``
event on ``up/event`` (meta in clear, no personal data)::

    {"type": "command_result", "command_id": str | null, "action": str | null, "ok": bool,
     "reason": "ok" | <refusal code> | "failed" | "internal_error", "detail": str, ...action facts}

Refusals caused by unverified payloads (bad signature, malformed, wrong target...) are reported at most
:data:`REFUSAL_REPORTS_PER_MINUTE` times a minute, so whoever can publish junk on the command topic
cannot fill the outbox; beyond that they are only logged.

Actions: ``maintenance`` (outbox states ``maintenance`` / ``maintenance_message`` that the UI reads),
``config`` (whitelisted keys written atomically to ``{home}/config.json``, 0600; the new version
echoed as state ``config_version``), ``diagnostics`` (queue counts, oldest pending, disk free, driver
health, versions in the result event), ``catalog_update`` (a signed catalogue verified and installed
by ``sync.daemon.catalog`` into ``{home}/catalog.json``; state ``catalog_version``; fetched on a
background thread when the command carries a URL), ``update`` (a signed software release:
``sync.ota.manager``, reported when it is confirmed healthy or rolled back, after a restart).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import platform
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.daemon import catalog
from sync.daemon.service import APP_VERSION
from sync.device import DeviceConfig
from sync.kiosk_config import apply_updates
from sync.ota.download import DownloadError, fetch_bytes
from sync.ota.manager import OtaManager
from sync.ota.switch import Releases, ota_root
from sync.ota.trust import ReleaseTrust, TrustRefused
from sync.outbox.store import Outbox
from sync.protocol import commands as proto
from sync.protocol.catalog import CatalogError
from sync.protocol.commands import Command, CommandRefused

log = logging.getLogger("kiosk.commands")

RESULT_EVENT = "command_result"
REFUSAL_REPORTS_PER_MINUTE = 30
MAX_DRIVERS_REPORTED = 32


class _Limiter:
    """At most ``n`` events per ``window_s`` (sliding window)."""

    def __init__(self, n: int, window_s: float = 60.0) -> None:
        self.n = n
        self.window_s = window_s
        self._times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
        if len(self._times) >= self.n:
            return False
        self._times.append(now)
        return True


class CommandExecutor:
    """Executes verified commands for one kiosk. ``handle`` is the daemon's ``command_handler``."""

    def __init__(self, outbox: Outbox, device: DeviceConfig, home: Path, *,
                 clock: Callable[[], float] = time.time,
                 on_config: Callable[[dict[str, Any]], None] | None = None,
                 refusal_reports_per_minute: int = REFUSAL_REPORTS_PER_MINUTE,
                 ota_root_dir: Path | None = None, on_restart: Callable[[], None] | None = None,
                 ota_options: dict[str, Any] | None = None) -> None:
        self.outbox = outbox
        self.device = device
        self.home = home
        self.clock = clock
        self.on_config = on_config  # told the new settings after a config command (e.g. heartbeat interval)
        self._lock = threading.Lock()
        self._limiter = _Limiter(refusal_reports_per_minute)
        self.suppressed_reports = 0
        self._background: threading.Thread | None = None  # a catalogue being fetched
        # Software updates: releases under the OTA root ($KIOSK_OTA_ROOT, /opt/street-kiosk), verified with the
        # offline release key pinned in the home (sync.ota.trust), never the central's command key.
        self.ota = OtaManager(Releases(ota_root(ota_root_dir)), outbox, report=self._report,
                              restart=on_restart or _no_restart, trust=ReleaseTrust(home),
                              clock=clock, **{"ui_home": home, **(ota_options or {})})

    def resume_updates(self) -> None:
        """At start-up: confirm (or roll back) a release switched to before the restart; report leftovers."""
        try:
            self.ota.resume()
        except Exception:
            log.exception("resuming the software update failed")
        self.ota.watch_inbox(self.home)  # releases a technician staged from a USB stick (sync.ota.inbox)

    def join_background(self, timeout: float | None = None) -> None:
        """Wait for a catalogue fetch or an update running in the background (tests, shutdown)."""
        if self._background is not None:
            self._background.join(timeout)
        self.ota.join(timeout)

    # -- entry point -------------------------------------------------------------------------------

    def handle(self, payload: bytes) -> None:
        """Verify, check replay, execute, report. Never raises (it runs on the paho thread)."""
        with self._lock:
            try:
                self._handle(payload)
            except Exception:  # a bug here must not take the daemon's connection down
                log.exception("command handling failed")
                with contextlib.suppress(Exception):
                    self._report(proto.peek_command_id(payload), None, False, "internal_error",
                                 "the kiosk failed while handling the command")

    def _handle(self, payload: bytes) -> None:
        now = self.clock()
        try:
            command = proto.verify_command(self.device.command_public_key, payload,
                                           device_id=self.device.device_id, site=self.device.site, now=now)
        except CommandRefused as exc:
            log.warning("refused a command (%s): %s", exc.code, exc.message)
            if self._limiter.allow(now):
                self._report(exc.command_id, None, False, exc.code, exc.message)
            else:
                self.suppressed_reports += 1
            return
        if not self.outbox.remember_command(command.id, command.expires_at):
            log.warning("refused command %s (%s): already received", command.id, proto.REPLAYED)
            self._report(command.id, command.action, False, proto.REPLAYED, "this command was already received")
            return
        try:
            extra = self._execute(command)
            if extra is None:
                log.info("command %s (%s): its result is reported on its own", command.id, command.action)
                return
        except CommandRefused as exc:
            log.warning("refused command %s (%s): %s", command.id, exc.code, exc.message)
            self._report(command.id, command.action, False, exc.code, exc.message)
            return
        except OSError as exc:
            log.error("command %s (%s) failed: %s", command.id, command.action, type(exc).__name__)
            self._report(command.id, command.action, False, "failed", f"could not apply: {type(exc).__name__}")
            return
        log.info("executed command %s (%s)", command.id, command.action)
        self._report(command.id, command.action, True, "ok", extra.pop("detail", "done"), extra)

    def _report(self, command_id: str | None, action: str | None, ok: bool, reason: str, detail: str,
                extra: dict[str, Any] | None = None) -> None:
        meta = {**(extra or {}), "command_id": command_id, "action": action, "ok": ok, "reason": reason,
                "detail": detail[:200]}
        try:
            self.outbox.enqueue_event(self.device, RESULT_EVENT, meta)
        except Exception as exc:  # the database is busy or broken: the log is all that is left
            log.error("could not queue the result of command %s: %s", command_id, type(exc).__name__)

    # -- actions -----------------------------------------------------------------------------------

    def _execute(self, command: Command) -> dict[str, Any] | None:
        """The result's facts, or None when the action reports later itself (from a background thread)."""
        if command.action == "maintenance":
            return self._maintenance(command)
        if command.action == "config":
            return self._config(command)
        if command.action == "diagnostics":
            return self._diagnostics()
        if command.action == "catalog_update":
            return self._catalog_update(command)
        if command.action == "update":
            self.ota.start_update(command.id, command.args)
            return None
        if command.action == proto.RELEASE_FLOOR:  # anti-rollback: no release below this version is installed
            try:
                floor = self.ota.trust.raise_floor(str(command.args["version"]))
            except TrustRefused as exc:
                raise CommandRefused(proto.REFUSED, str(exc), command.id) from None
            self.outbox.set_states({"release_floor": floor})
            return {"detail": f"release floor {floor}", "floor": floor}
        if command.action == proto.SERVICE_PIN:  # an admin's unlock or PIN reset (sync/daemon/service_pin.py)
            from sync.daemon import service_pin
            return service_pin.execute(self.outbox, self.device, self.home, command.args)
        if command.action == proto.APP_STATUS:  # statuses for the residents' lookup (sync/daemon/app_status.py)
            from sync.daemon import app_status
            return app_status.execute(self.outbox, command.args)
        raise CommandRefused(proto.UNKNOWN_ACTION, "this kiosk does not know that action", command.id)

    def _maintenance(self, command: Command) -> dict[str, Any]:
        on = bool(command.args["on"])
        message = str(command.args.get("message", "")) if on else ""
        self.outbox.set_states({"maintenance": "1" if on else "0", "maintenance_message": message})
        return {"detail": "maintenance on" if on else "maintenance off", "maintenance": on}

    def _config(self, command: Command) -> dict[str, Any]:
        values = command.args["set"]  # every key whitelisted and every value checked by verify_command
        version, settings = apply_updates(self.home, values, source="central", command_id=command.id, typed=True)
        self.outbox.set_states({"config_version": str(version)})
        if self.on_config is not None:
            try:
                self.on_config(dict(settings))
            except Exception:
                log.exception("applying the new settings in this process failed (they are saved)")
        return {"detail": f"{len(values)} setting(s) applied", "config_version": version,
                "keys": sorted(values)}

    def _diagnostics(self) -> dict[str, Any]:
        states = self.outbox.states()
        drivers = self.outbox.driver_health()
        oldest = self.outbox.oldest_undelivered_age()
        return {
            "detail": "diagnostics collected",
            "counts": self.outbox.counts_by_kind(),
            "oldest_pending_s": None if oldest is None else round(oldest, 1),
            "disk_free": self.outbox.disk_free(),
            "telemetry_queued": self.outbox.telemetry_count(),
            "drivers": [{"driver": d["driver"], "state": d["state"], "last_error": d["last_error"],
                         "last_success": d["last_success"]} for d in drivers[:MAX_DRIVERS_REPORTED]],
            "versions": {"app": APP_VERSION, "catalog": states.get("catalog_version"),
                         "config": states.get("config_version"), "release": states.get("release_version"),
                         "python": platform.python_version()},
            "connected": states.get("connected") == "1",
            "maintenance": states.get("maintenance") == "1",
            "refused_reports_suppressed": self.suppressed_reports,
        }


    # -- catalogue -------------------------------------------------------------------------------------

    def _catalog_update(self, command: Command) -> dict[str, Any] | None:
        args = command.args
        if "document" in args:
            try:
                return self._install_catalog(proto.canonical_json(args["document"]))
            except CommandRefused as exc:
                log.warning("refused the catalogue of command %s: %s", command.id, exc.message)
                self._report(command.id, command.action, False, exc.code, exc.message,
                             {"catalog_version": self._catalog_version()})
                return None
        if self._background is not None and self._background.is_alive():
            raise CommandRefused(proto.BUSY, "another catalogue is being fetched", command.id)
        self._background = threading.Thread(target=self._fetch_catalog, args=(command,), name="catalog-fetch",
                                            daemon=True)
        self._background.start()
        return None

    def _fetch_catalog(self, command: Command) -> None:
        args = command.args
        try:
            data = fetch_bytes(str(args["url"]), max_bytes=int(args["size"]))
            if len(data) != int(args["size"]) or hashlib.sha256(data).hexdigest() != args["sha256"]:
                raise CommandRefused(proto.REFUSED, "the catalogue's size or SHA-256 does not match the command")
            extra = self._install_catalog(data)
        except DownloadError as exc:
            self._report(command.id, command.action, False, "failed", f"catalogue not fetched: {exc}",
                         {"catalog_version": self._catalog_version()})
        except CommandRefused as exc:
            log.warning("refused catalogue of command %s: %s", command.id, exc.message)
            self._report(command.id, command.action, False, exc.code, exc.message,
                         {"catalog_version": self._catalog_version()})
        except Exception:
            log.exception("catalogue update failed")
            self._report(command.id, command.action, False, "internal_error", "the kiosk failed installing it")
        else:
            self._report(command.id, command.action, True, "ok", extra.pop("detail"), extra)

    def _catalog_version(self) -> str | None:
        try:
            return catalog.in_use(self.home, self.device.command_public_key).version
        except (CatalogError, OSError) as exc:  # the result still reports; the version is simply unknown
            log.warning("could not read the catalogue version: %s", type(exc).__name__)
            return None

    def _install_catalog(self, data: bytes) -> dict[str, Any]:
        """Verify (signature by the central's key, schema, newer version) and install atomically; the old
        catalogue stays on any refusal. The UI loads the installed file between sessions."""
        key = self.device.command_public_key
        if key is None:
            raise CommandRefused(proto.NO_COMMAND_KEY, "this kiosk has no key to verify a catalogue")
        previous = catalog.in_use(self.home, key).version
        try:
            version = str(catalog.install_update(self.home, data, key)["version"])
        except CatalogError as exc:
            raise CommandRefused(proto.REFUSED, f"catalogue refused: {exc}; {previous} stays") from None
        self.outbox.set_states({"catalog_version": version})
        return {"detail": f"catalogue {version} installed", "catalog_version": version,
                "previous_catalog_version": previous}


def _no_restart() -> None:
    log.warning("a restart was requested but this process has no way to restart; restart kiosk-syncd")


def build_executor(outbox: Outbox, device: DeviceConfig, home: Path, **kwargs: Any) -> CommandExecutor:
    """The executor a daemon is built with (``SyncDaemon(..., command_handler=executor.handle)``)."""
    return CommandExecutor(outbox, device, home, **kwargs)


__all__ = ["RESULT_EVENT", "CommandExecutor", "build_executor"]
