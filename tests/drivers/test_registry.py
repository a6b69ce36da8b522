"""The driver registry: building from config, configuration errors, and self-test with timeouts."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.camera import OpenCVCamera, SimulatedCamera
from drivers.health import Health
from drivers.interfaces import Driver
from drivers.printer import EscPosPrinter
from drivers.registry import (
    ConfigError,
    DriverUnavailableError,
    build_drivers,
    default_sim_config,
    selftest_all,
)

HAVE_IDCARD_SIM = (importlib.util.find_spec("drivers.idcard.simulator") is not None
                   and importlib.util.find_spec("drivers.idcard.reader") is not None)

REPORT_KEYS = {"driver", "kind", "ok", "state", "last_error", "details", "duration_ms"}


def test_default_sim_config_builds_and_selftests(tmp_path: Path):
    config = default_sim_config(tmp_path)
    if not HAVE_IDCARD_SIM:
        config.pop("idcard")
    drivers = build_drivers(config, start=True)
    try:
        assert set(drivers.cameras) == {"scanner", "document", "face"}  # face: 人证核验
        assert all(isinstance(c, SimulatedCamera) for c in drivers.cameras.values())
        assert isinstance(drivers.printer, EscPosPrinter)
        reports = selftest_all(drivers, timeout_s=5)
        json.dumps(reports)  # JSON-able as-is
        names = [r["driver"] for r in reports]
        assert names[:3] == ["camera.scanner", "camera.document", "camera.face"] and names[-1] == "printer"
        for r in reports:
            assert set(r) == REPORT_KEYS
            assert r["ok"] is True and r["state"] == "ok" and r["last_error"] is None, r
        assert reports[0]["details"]["width"] == 640
        assert not (tmp_path / "printer" / "receipts.escpos").exists()  # self-test prints nothing
        assert {h["driver"] for h in drivers.health()} == set(names)
    finally:
        drivers.close()
    assert not any(c.running for c in drivers.cameras.values())  # type: ignore[attr-defined]


@pytest.mark.skipif(not HAVE_IDCARD_SIM, reason="drivers.idcard.simulator not available")
def test_sim_idcard_is_the_real_reader_on_the_simulator(tmp_path: Path):
    from drivers.idcard.simulator import SAMPLE_RECORD

    drivers = build_drivers({"idcard": {"kind": "sim"}})
    try:
        reader = drivers.idcard
        assert reader is not None and reader.name == "idcard"
        (report,) = selftest_all(drivers, timeout_s=5)
        assert report["ok"] is True and report["kind"] == "sim" and report["details"]["simulated"]
        reader.simulator.place_card(SAMPLE_RECORD)  # type: ignore[attr-defined]
        record = reader.read_card(timeout_s=5)
        assert record is not None and record.id_number == SAMPLE_RECORD.id_number
    finally:
        drivers.close()


def test_idcard_kinds_fail_clearly_when_their_module_is_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "drivers.idcard.reader", None)  # makes the import fail
    with pytest.raises(DriverUnavailableError, match=r"drivers\.idcard\.reader"):
        build_drivers({"idcard": {"kind": "serial", "port": "/dev/ttyUSB0"}})
    assert issubclass(DriverUnavailableError, ConfigError)


@pytest.mark.parametrize(("config", "message"), [
    ({"cameras": {"scanner": {"kind": "webcam"}}}, r"cameras\.scanner: unknown kind 'webcam'"),
    ({"printer": {"kind": "laser", "path": "x"}}, r"printer: unknown kind 'laser'"),
    ({"idcard": {"kind": "nfc"}}, r"idcard: unknown kind 'nfc'"),
    ({"cameras": {"doc": {"kind": "opencv"}}}, r"missing required key\(s\) \['device'\]"),
    ({"cameras": {"doc": {"kind": "opencv", "device": "/dev/video0", "fsp": 30}}},
     r"unknown key\(s\) \['fsp'\]"),
    ({"printer": {"kind": "file"}}, r"missing required key\(s\) \['path'\]"),
    ({"printer": {"kind": "network"}}, r"missing required key\(s\) \['host'\]"),
    ({"printer": {"kind": "file", "path": "x", "encoding": "nope"}}, r"printer: .*nope"),
    ({"scanner": {}}, r"unknown driver section\(s\) \['scanner'\]"),
    ({"cameras": {"scanner": {"fps": 3}}}, r"cameras\.scanner: missing 'kind'"),
    ({"cameras": {"scanner": {"kind": "sim", "fps": -1}}}, r"fps must be positive"),
])
def test_config_errors(config: dict[str, Any], message: str):
    with pytest.raises(ConfigError, match=message):
        build_drivers(config)


def test_a_config_error_closes_what_was_already_built(tmp_path: Path):
    config = {"cameras": {"a": {"kind": "sim"}}, "printer": {"kind": "teletype"}}
    with pytest.raises(ConfigError):
        build_drivers(config, start=True)
    assert not [t for t in threading.enumerate() if t.name == "cam-camera.a"]  # closed, not leaked


def test_opencv_kinds_build_with_settings():
    drivers = build_drivers({"cameras": {"doc": {"kind": "v4l2", "device": "/dev/video-none", "width": 1920,
                                                 "height": 1080, "autofocus": False, "focus": 20,
                                                 "backoff_initial_s": 0.05}}})
    cam = drivers.cameras["doc"]
    assert isinstance(cam, OpenCVCamera)
    assert cam.settings.width == 1920 and cam.settings.focus == 20 and cam.backoff_initial_s == 0.05
    (report,) = selftest_all(drivers, timeout_s=5)
    assert report["kind"] == "v4l2" and report["ok"] is False
    assert report["state"] == "failed" and report["last_error"] == "camera_open_failed"
    drivers.close()


class HungDriver:
    """A driver whose self-test never returns (until the test releases it)."""

    kind = "hung"

    def __init__(self) -> None:
        self.name = "hung"
        self.health = Health("hung")
        self.release = threading.Event()

    def selftest(self) -> dict[str, Any]:
        self.release.wait(60)
        return {"ok": True}

    def close(self) -> None:
        self.release.set()


class BrokenDriver:
    kind = "broken"

    def __init__(self) -> None:
        self.name = "broken"
        self.health = Health("broken")

    def selftest(self) -> dict[str, Any]:
        raise RuntimeError("secret details that must not leak")

    def close(self) -> None:
        pass


def test_a_hung_driver_times_out_without_hanging_the_caller(tmp_path: Path):
    hung, broken = HungDriver(), BrokenDriver()
    printer = build_drivers({"printer": {"kind": "file", "path": str(tmp_path / "r.bin")}}).printer
    assert printer is not None
    subjects: dict[str, Driver] = {"hung": hung, "broken": broken, "printer": printer}
    try:
        t0 = time.monotonic()
        reports = selftest_all(subjects, timeout_s=0.5)
        elapsed = time.monotonic() - t0
        assert elapsed < 3
        by = {r["driver"]: r for r in reports}
        assert by["hung"]["ok"] is False and by["hung"]["state"] == "failed"
        assert by["hung"]["last_error"] == "selftest_timeout"
        assert hung.health.snapshot().last_error == "selftest_timeout"
        assert by["broken"]["last_error"] == "selftest_error:RuntimeError"
        assert "secret" not in json.dumps(reports)
        assert by["printer"]["ok"] is True and by["printer"]["kind"] == "escpos"
    finally:
        hung.close()
