"""Build the configured drivers from a plain dict, and self-test them all with per-driver timeouts.

Configuration (every section optional; unknown sections, kinds or keys raise :class:`ConfigError`)::

    {
      "cameras": {
        "scanner":  {"kind": "sim", "fps": 15, "width": 640, "height": 480,
                     "frames": ["a.png", ...] | "video": "clip.avi", "loop": true},
        "document": {"kind": "opencv", "device": "/dev/v4l/by-id/...", "width": 1920, "height": 1080,
                     "fps": 15, "fourcc": "MJPG", "autofocus": false, "focus": 30,
                     "auto_exposure": true, "exposure": null, "buffer_size": 1, "read_timeout_ms": 2000,
                     "max_read_failures": 3, "backoff_initial_s": 0.5, "backoff_max_s": 8}
      },
      "idcard":  {"kind": "serial", "port": "/dev/ttyUSB0", "baudrate": 115200, "retries": 2,
                  "wlt_library": "/opt/vendor/libwlt.so"}   # optional: the SDK's photo decoder
               | {"kind": "sim", "halt_after_read": true}   # simulator on a pty + the real serial reader;
                                                            # its photos decode with SimWltDecoder
      "printer": {"kind": "file", "path": "...", "text_path": "..."}
               | {"kind": "serial", "port": "/dev/ttyS1", "baudrate": 9600, "rtscts": false, ...}
               | {"kind": "network", "host": "192.168.1.50", "port": 9100, "connect_timeout": 3}
               | {"kind": "usb", "path": "/dev/usb/lp0"}
               (+ common printer keys "encoding", "width_chars", "check_status", "qr_module_size")
    }

Driver names (used in health, telemetry and self-test reports): ``camera.<role>``, ``idcard``,
``printer``. ``kind: "opencv"`` has the alias ``"v4l2"``.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.interfaces import Driver, FrameSource, IdCardReader, IdentityRecord, ReceiptPrinter


class ConfigError(ValueError):
    """The driver configuration is wrong (unknown kind, missing or unknown key, bad value)."""


class DriverUnavailableError(ConfigError):
    """The configured kind needs a module that is not installed / not importable."""


@dataclass(frozen=True)
class DriverEntry:
    name: str  # camera.scanner, idcard, printer
    kind: str  # the configured kind: sim, opencv, serial, file, ...
    driver: Driver


@dataclass
class Drivers:
    """The built drivers. ``entries`` lists them all in build order (for self-test and shutdown)."""

    cameras: dict[str, FrameSource] = field(default_factory=dict)
    idcard: IdCardReader | None = None
    printer: ReceiptPrinter | None = None
    entries: list[DriverEntry] = field(default_factory=list)

    def __iter__(self) -> Iterator[DriverEntry]:
        return iter(self.entries)

    def get(self, name: str) -> Driver | None:
        return next((e.driver for e in self.entries if e.name == name), None)

    def start_cameras(self) -> None:
        for cam in self.cameras.values():
            cam.start()

    def health(self, probe: bool = False) -> list[dict[str, object]]:
        """Every driver's health snapshot as a dict (for telemetry). ``probe``: first ask the drivers whose
        device can be asked without a job (the printer's paper and cover sensors), so paper running out shows
        before the next receipt fails, not after."""
        if probe:
            for e in self.entries:
                query = getattr(e.driver, "query_status", None)
                if callable(query):
                    try:
                        query()
                    except Exception:  # noqa: S112 - a probe that fails leaves the driver's own health as it is
                        continue
        return [e.driver.health.snapshot().as_dict() for e in self.entries]

    def close(self) -> None:
        """Close every driver, the last built first; one failing close does not stop the others."""
        for entry in reversed(self.entries):
            try:
                entry.driver.close()
            except Exception:  # noqa: S112 - shutdown must reach every driver
                continue


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------

_TOP_KEYS = {"cameras", "idcard", "printer"}

_CAMERA_SIM_KEYS = {"frames", "video", "fps", "width", "height", "loop"}
_CAMERA_SETTINGS_KEYS = {"width", "height", "fps", "fourcc", "autofocus", "focus", "auto_exposure",
                         "exposure", "buffer_size", "read_timeout_ms"}
_CAMERA_OPENCV_KEYS = _CAMERA_SETTINGS_KEYS | {"device", "max_read_failures", "backoff_initial_s",
                                               "backoff_max_s"}
_PRINTER_COMMON = {"encoding", "width_chars", "check_status", "qr_module_size"}
_PRINTER_KEYS = {
    "file": {"path", "text_path"},
    "serial": {"port", "baudrate", "io_timeout", "rtscts", "dsrdtr", "xonxoff"},
    "network": {"host", "port", "connect_timeout", "io_timeout"},
    "usb": {"path", "write_timeout"},
}


def _section(where: str, cfg: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{where}: expected a mapping with a 'kind', got {type(cfg).__name__}")
    kind = cfg.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{where}: missing 'kind'")
    rest = {k: v for k, v in cfg.items() if k != "kind"}
    return kind, rest


def _check_keys(where: str, kind: str, got: Mapping[str, Any], allowed: set[str],
                required: Iterable[str] = ()) -> None:
    unknown = sorted(set(got) - allowed)
    if unknown:
        raise ConfigError(f"{where} (kind {kind!r}): unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = [k for k in required if got.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where} (kind {kind!r}): missing required key(s) {missing}")


def _unknown_kind(where: str, kind: str, known: Iterable[str]) -> ConfigError:
    return ConfigError(f"{where}: unknown kind {kind!r}; known kinds: {sorted(known)}")


def build_camera(role: str, cfg: Mapping[str, Any]) -> tuple[str, FrameSource]:
    where = f"cameras.{role}"
    kind, rest = _section(where, cfg)
    name = f"camera.{role}"
    if kind == "sim":
        from drivers.camera.sim_source import SimulatedCamera

        _check_keys(where, kind, rest, _CAMERA_SIM_KEYS)
        try:
            return kind, SimulatedCamera(name, **rest)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    if kind in ("opencv", "v4l2"):
        from drivers.camera.opencv_source import CameraSettings, OpenCVCamera

        _check_keys(where, kind, rest, _CAMERA_OPENCV_KEYS, required=["device"])
        settings = CameraSettings.from_dict({k: v for k, v in rest.items() if k in _CAMERA_SETTINGS_KEYS})
        extra = {k: v for k, v in rest.items() if k not in _CAMERA_SETTINGS_KEYS}
        try:
            return kind, OpenCVCamera(name, settings=settings, **extra)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    raise _unknown_kind(where, kind, ["sim", "opencv", "v4l2"])


def _import(module: str, attr: str, kind: str) -> Any:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise DriverUnavailableError(
            f"idcard kind {kind!r} needs module {module}, which cannot be imported: {exc}") from exc
    try:
        return getattr(mod, attr)
    except AttributeError as exc:
        raise DriverUnavailableError(f"idcard kind {kind!r}: {module} has no {attr}") from exc


def build_idcard(cfg: Mapping[str, Any]) -> tuple[str, IdCardReader]:
    kind, rest = _section("idcard", cfg)
    if kind == "serial":
        _check_keys("idcard", kind, rest, {"port", "baudrate", "retries", "wlt_library"}, required=["port"])
        cls = _import("drivers.idcard.reader", "SerialIdCardReader", kind)
        port = rest.pop("port")
        library = rest.pop("wlt_library", None)
        if library:
            try:
                rest["photo_decoder"] = _import("drivers.idcard.photo", "VendorWltDecoder", kind)(library)
            except OSError as exc:
                raise ConfigError(f"idcard: wlt_library cannot be loaded: {exc}") from exc
        try:
            return kind, cls(port, name="idcard", **rest)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"idcard: {exc}") from exc
    if kind == "sim":
        _check_keys("idcard", kind, rest, {"halt_after_read", "retries"})
        sim_cls = _import("drivers.idcard.simulator", "IdCardSimulator", kind)
        reader_cls = _import("drivers.idcard.reader", "SerialIdCardReader", kind)
        sim_kwargs = {k: rest[k] for k in ("halt_after_read",) if k in rest}
        reader_kwargs: dict[str, Any] = {k: rest[k] for k in ("retries",) if k in rest}
        reader_kwargs["photo_decoder"] = _import("drivers.idcard.photo", "SimWltDecoder", kind)()
        try:
            simulator = sim_cls(**sim_kwargs).start()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"idcard: {exc}") from exc
        try:
            reader = reader_cls(simulator.port, name="idcard", **reader_kwargs)
        except BaseException:
            simulator.stop()
            raise
        return kind, SimulatedIdCardReader(reader, simulator)
    raise _unknown_kind("idcard", kind, ["serial", "sim"])


class SimulatedIdCardReader:
    """The real :class:`SerialIdCardReader` talking to the ID-card simulator on a pseudo-terminal.

    The whole serial path runs as in production. Script the card with ``.simulator``
    (``place_card(record)``, ``remove_card()``, ``inject(fault)``); ``close()`` stops both.
    """

    kind = "sim"

    def __init__(self, reader: Any, simulator: Any) -> None:
        self.reader = reader
        self.simulator = simulator
        self.name: str = reader.name
        self.health = reader.health

    def read_card(self, timeout_s: float = 5.0) -> IdentityRecord | None:
        return self.reader.read_card(timeout_s)

    def selftest(self) -> dict[str, Any]:
        report = dict(self.reader.selftest())
        report["simulated"] = True
        return report

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.simulator.stop()


def build_printer(cfg: Mapping[str, Any]) -> tuple[str, ReceiptPrinter]:
    from drivers.printer import backends as b
    from drivers.printer.printer import EscPosPrinter

    kind, rest = _section("printer", cfg)
    if kind not in _PRINTER_KEYS:
        raise _unknown_kind("printer", kind, _PRINTER_KEYS)
    required = {"file": ["path"], "serial": ["port"], "network": ["host"], "usb": []}[kind]
    _check_keys("printer", kind, rest, _PRINTER_KEYS[kind] | _PRINTER_COMMON, required=required)
    common = {k: rest.pop(k) for k in list(rest) if k in _PRINTER_COMMON}
    backend: b.Backend
    try:
        if kind == "file":
            backend = b.FileBackend(rest["path"], rest.get("text_path"),
                                    encoding=common.get("encoding", "gb18030"),
                                    width_chars=common.get("width_chars", 32))
        elif kind == "serial":
            backend = b.SerialBackend(**rest)
        elif kind == "network":
            backend = b.NetworkBackend(**rest)
        else:
            backend = b.UsbLpBackend(**rest)
        return kind, EscPosPrinter(backend, "printer", **common)
    except (TypeError, ValueError, LookupError) as exc:
        raise ConfigError(f"printer: {exc}") from exc


def build_drivers(config: Mapping[str, Any], *, start: bool = False) -> Drivers:
    """Build every configured driver; ``start`` also starts the cameras' threads.

    Raises :class:`ConfigError` (or its subclass :class:`DriverUnavailableError`) before anything is
    left half-built: drivers built so far are closed again.
    """
    if not isinstance(config, Mapping):
        raise ConfigError("driver config must be a mapping")
    unknown = sorted(set(config) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown driver section(s) {unknown}; known: {sorted(_TOP_KEYS)}")
    drivers = Drivers()
    try:
        cameras = config.get("cameras") or {}
        if not isinstance(cameras, Mapping):
            raise ConfigError("cameras: expected a mapping of role -> camera config")
        for role, cam_cfg in cameras.items():
            kind, cam = build_camera(str(role), cam_cfg)
            drivers.cameras[str(role)] = cam
            drivers.entries.append(DriverEntry(cam.name, kind, cam))
        if config.get("idcard"):
            kind, reader = build_idcard(config["idcard"])
            drivers.idcard = reader
            drivers.entries.append(DriverEntry(reader.name, kind, reader))
        if config.get("printer"):
            kind, printer = build_printer(config["printer"])
            drivers.printer = printer
            drivers.entries.append(DriverEntry(printer.name, kind, printer))
        if start:
            drivers.start_cameras()
    except BaseException:
        drivers.close()
        raise
    return drivers


def default_sim_config(home: Path) -> dict[str, Any]:
    """The simulated hardware of ``kiosk run --sim`` and ``kiosk demo``; the printer writes under home."""
    out = Path(home) / "printer"
    return {
        "cameras": {
            "scanner": {"kind": "sim", "fps": 15, "width": 640, "height": 480},
            "document": {"kind": "sim", "fps": 5, "width": 1280, "height": 960},
            "face": {"kind": "sim", "fps": 10, "width": 640, "height": 480},  # 人证核验
        },
        "idcard": {"kind": "sim"},
        "printer": {"kind": "file", "path": str(out / "receipts.escpos"),
                    "text_path": str(out / "receipts.txt")},
    }


# ---------------------------------------------------------------------------------------------
# self-test
# ---------------------------------------------------------------------------------------------

def _entries(drivers: Drivers | Mapping[str, Driver] | Iterable[DriverEntry]) -> list[DriverEntry]:
    if isinstance(drivers, Drivers):
        return list(drivers.entries)
    if isinstance(drivers, Mapping):
        return [DriverEntry(name, str(getattr(d, "kind", type(d).__name__)), d)
                for name, d in drivers.items()]
    return list(drivers)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def selftest_all(drivers: Drivers | Mapping[str, Driver] | Iterable[DriverEntry],
                 timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """Run every driver's ``selftest()`` concurrently, each limited to ``timeout_s`` seconds.

    Returns one JSON-able report per driver, in order::

        {"driver": str, "kind": str, "ok": bool, "state": "ok"|"degraded"|"failed"|"unknown",
         "last_error": str|null, "details": {...}, "duration_ms": float}

    A self-test that raises reports ``selftest_error:<ExceptionType>``; one that does not finish in
    time reports ``selftest_timeout`` (its health is set failed) and is left running in a daemon
    thread, so a hung driver costs the caller ``timeout_s`` at most and never blocks its exit.
    """
    entries = _entries(drivers)
    results: list[dict[str, Any] | None] = [None] * len(entries)
    errors: list[BaseException | None] = [None] * len(entries)
    durations: list[float] = [timeout_s] * len(entries)
    threads: list[threading.Thread] = []
    started = time.monotonic()

    def run(i: int, entry: DriverEntry) -> None:
        t0 = time.monotonic()
        try:
            results[i] = entry.driver.selftest()
        except BaseException as exc:  # report, never propagate from a worker thread
            errors[i] = exc
        durations[i] = time.monotonic() - t0

    for i, entry in enumerate(entries):
        t = threading.Thread(target=run, args=(i, entry), name=f"selftest-{entry.name}", daemon=True)
        t.start()
        threads.append(t)

    reports: list[dict[str, Any]] = []
    deadline = started + timeout_s
    for i, (entry, t) in enumerate(zip(entries, threads, strict=True)):
        t.join(max(0.0, deadline - time.monotonic()))
        reports.append(_selftest_report(entry, t.is_alive(), errors[i], results[i], durations[i], timeout_s))
    return reports


def _selftest_report(entry: DriverEntry, timed_out: bool, error_exc: BaseException | None,
                     result: dict[str, Any] | None, duration_s: float, timeout_s: float) -> dict[str, Any]:
    """One driver's line of :func:`selftest_all`: its self-test's verdict merged with its health."""
    health = getattr(entry.driver, "health", None)
    details: dict[str, Any]
    if timed_out:
        ok, error, details = False, "selftest_timeout", {"timeout_s": timeout_s}
        if health is not None:
            health.failed(error)
    elif error_exc is not None:
        ok, error, details = False, f"selftest_error:{type(error_exc).__name__}", {}
        if health is not None:
            health.failed(error)
    else:
        details = dict(result or {})
        ok = bool(details.pop("ok", False))
        error = None
    snap = health.snapshot() if health is not None else None
    state = snap.state.value if snap is not None else ("ok" if ok else "failed")
    if not ok and state in ("ok", "unknown"):
        state = "failed"  # the self-test outranks a stale "ok" from earlier activity
    elif ok and state == "unknown":
        state = "ok"
    last_error = error or (snap.last_error if snap is not None and state != "ok" else None)
    if not ok and last_error is None:
        last_error = str(details.get("error") or "selftest_failed")
    return {
        "driver": entry.name,
        "kind": entry.kind,
        "ok": ok,
        "state": state,
        "last_error": last_error,
        "details": _jsonable(details),
        "duration_ms": round(duration_s * 1000, 1),
    }
