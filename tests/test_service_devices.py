"""Camera, ID-card reader and printer choices in the technician's settings page: listing from a /dev and
/sys tree of real files, a change validated against the driver registry, written atomically with a .bak,
audited through the outbox and announced; a missing device or broken file refused with nothing written."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF

from drivers.registry import default_sim_config
from kiosk import automation as ui
from kiosk.service_mode import devices
from kiosk.service_mode.pin import PinStore
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.test_service_mode import PIN, Ui, enter_service, open_ui


def fake_roots(tmp: Path) -> tuple[Path, Path]:
    dev, sys = tmp / "dev", tmp / "sys"
    (dev / "usb").mkdir(parents=True)
    for name in ("video0", "video2", "video10", "ttyUSB0", "ttyS0", "ttyACM1", "usb/lp0", "null"):
        (dev / name).touch()
    named = sys / "class" / "video4linux" / "video0"
    named.mkdir(parents=True)
    (named / "name").write_text("USB2.0 HD UVC WebCam\n", encoding="utf-8")
    return dev, sys


def tap_choice(u: Ui, name: str) -> None:
    """Scroll the device list (a Flickable) so the button is in view, then tap it like a finger."""
    item, flick = ui.wait_for_item(u.window, name), ui.wait_for_item(u.window, "devList")
    top = item.mapToItem(flick.property("contentItem"), QPointF(0, 0)).y()
    flick.setProperty("contentY", max(0.0, top - 4))
    ui.tap(u.window, item)


def keys(roles: list[devices.RoleChoices], role: str) -> list[str]:
    return [c.key for rc in roles if rc.role == role for c in rc.choices]


def test_listing_reads_the_dev_and_sys_trees(tmp_path: Path) -> None:
    dev, sys = fake_roots(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    assert devices.video_devices(dev, sys) == [(str(dev / "video0"), "USB2.0 HD UVC WebCam"),
                                               (str(dev / "video2"), ""), (str(dev / "video10"), "")]
    assert devices.serial_ports(dev) == [str(dev / "ttyUSB0"), str(dev / "ttyACM1"), str(dev / "ttyS0")]
    roles = devices.choices(home, dev_root=dev, sys_root=sys)
    assert [rc.role for rc in roles] == list(devices.ROLES)
    assert all(rc.selected == "none" for rc in roles)  # no drivers.json: nothing installed
    assert keys(roles, "camera.document") == ["none", "sim", str(dev / "video0"), str(dev / "video2"),
                                              str(dev / "video10")]
    assert keys(roles, "idcard") == ["none", "sim", str(dev / "ttyUSB0"), str(dev / "ttyACM1"), str(dev / "ttyS0")]
    assert keys(roles, "printer")[:3] == ["none", "file", str(dev / "usb/lp0")]
    assert f"serial:{dev / 'ttyS0'}" in keys(roles, "printer")
    label = next(c.label for rc in roles for c in rc.choices if c.key == str(dev / "video0"))
    assert "USB2.0 HD UVC WebCam" in label


def test_the_current_setting_is_selected_and_kept_when_it_is_not_detected(tmp_path: Path) -> None:
    dev, sys = fake_roots(tmp_path)
    config = default_sim_config(tmp_path)
    config["printer"] = {"kind": "network", "host": "192.168.1.50", "port": 9100}
    config["cameras"]["document"] = {"kind": "opencv", "device": "/dev/v4l/by-id/usb-cam-index0", "fps": 10}
    roles = {rc.role: rc for rc in devices.choices(tmp_path, config, dev_root=dev, sys_root=sys)}
    assert roles["camera.scanner"].selected == "sim" and roles["idcard"].selected == "sim"
    assert roles["printer"].selected == "current" and "192.168.1.50:9100" in roles["printer"].choices[-1].label
    assert roles["camera.document"].selected == "current"
    # a detected camera keeps the tuned settings of the current one
    video0 = roles["camera.document"].find(str(dev / "video0"))
    assert video0 is not None and video0.config == {"kind": "opencv", "device": str(dev / "video0"), "fps": 10}
    new, changed = devices.plan(config, list(roles.values()), {r: rc.selected for r, rc in roles.items()})
    assert changed == [] and new == config  # saving untouched roles changes nothing


@pytest.fixture
def svc(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[tuple[Ui, Path]]:
    home = outbox.path.parent
    PinStore(home).set_pin(PIN)
    (home / "drivers.json").write_text(json.dumps(default_sim_config(home)), encoding="utf-8")
    dev, sys = fake_roots(tmp_path)
    u = open_ui(tmp_path, outbox, device)
    u.service.configPage.dev_root, u.service.configPage.sys_root = dev, sys
    enter_service(u)
    ui.tap_named(u.window, "svcPage_config")
    ui.wait_for_item(u.window, "configPage")
    yield u, dev
    u.close()


def test_a_valid_change_is_written_atomically_with_a_bak_audited_and_announced(
        svc: tuple[Ui, Path], outbox: Outbox) -> None:
    u, dev = svc
    home = u.home
    before = (home / "drivers.json").read_bytes()
    texts = u.texts()
    assert "证件摄像头" in texts and "USB2.0 HD UVC WebCam" in texts and "串口 ttyUSB0" in texts  # the choices
    roles = u.service.configPage.deviceRoles
    doc = next(r for r in roles if r["role"] == "camera.document")
    assert doc["selected"] == "sim"
    i = [c["key"] for c in doc["choices"]].index(str(dev / "video0"))
    tap_choice(u, f"dev_camera.document_{i}")
    assert ui.process_events_until(
        lambda: next(r for r in u.service.configPage.deviceRoles if r["role"] == "camera.document")["selected"]
        == str(dev / "video0"), 2)
    ui.tap_named(u.window, "devSave")
    assert ui.process_events_until(lambda: "设备设置已保存" in u.service.message, 2), u.service.message
    saved = json.loads((home / "drivers.json").read_text(encoding="utf-8"))
    assert saved["cameras"]["document"] == {"kind": "opencv", "device": str(dev / "video0")}
    assert saved["cameras"]["scanner"]["kind"] == "sim" and saved["idcard"] == {"kind": "sim"}  # the rest kept
    assert (home / "drivers.json.bak").read_bytes() == before
    assert stat.S_IMODE((home / "drivers.json").stat().st_mode) == 0o600
    assert not (home / "drivers.json.tmp").exists()
    assert ui.process_events_until(lambda: "重启自助机" in u.texts(), 2)  # announced: applies on restart
    audits = [m.body for m in outbox.pending_batch(50) if b"drivers_changed" in m.body]
    assert len(audits) == 1 and b"camera.document" in audits[0] and b"config_changed" in audits[0]
    ui.tap_named(u.window, "devSave")  # saving again: nothing to do, nothing audited
    assert ui.process_events_until(lambda: u.service.message == u.service.s["svcNoChange"], 2)
    assert len([m for m in outbox.pending_batch(50) if b"drivers_changed" in m.body]) == 1


def test_a_device_that_is_gone_is_refused_and_nothing_is_written(svc: tuple[Ui, Path], outbox: Outbox) -> None:
    u, dev = svc
    before = (u.home / "drivers.json").read_bytes()
    idcard = next(r for r in u.service.configPage.deviceRoles if r["role"] == "idcard")
    i = [c["key"] for c in idcard["choices"]].index(str(dev / "ttyUSB0"))
    tap_choice(u, f"dev_idcard_{i}")
    (dev / "ttyUSB0").unlink()  # unplugged after the list was shown
    ui.tap_named(u.window, "devSave")
    assert ui.process_events_until(lambda: "不存在" in u.service.message, 2), u.service.message
    assert "ttyUSB0" in u.service.message and "未做任何修改" in u.service.message and not u.service.messageOk
    assert (u.home / "drivers.json").read_bytes() == before and not (u.home / "drivers.json.bak").exists()
    assert not [m for m in outbox.pending_batch(50) if b"drivers_changed" in m.body]


def test_a_configured_device_that_is_missing_is_refused(tmp_path: Path) -> None:
    dev, sys = fake_roots(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    config = {"printer": {"kind": "usb", "path": str(dev / "usb" / "lp7")}}  # configured, not plugged in
    (home / "drivers.json").write_text(json.dumps(config), encoding="utf-8")
    roles = devices.choices(home, dev_root=dev, sys_root=sys)
    with pytest.raises(devices.DevicesError, match="lp7 不存在"):
        devices.validate(config, roles, {"printer": "current"})
    with pytest.raises(devices.DevicesError, match="没有“bogus”这个选项"):
        devices.change(home, {"printer": "bogus"}, dev_root=dev, sys_root=sys)
    assert json.loads((home / "drivers.json").read_text(encoding="utf-8")) == config


def test_a_set_that_does_not_build_is_refused_with_nothing_written(tmp_path: Path) -> None:
    dev, sys = fake_roots(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    config = {"cameras": {"scanner": {"kind": "sim", "fps": "fast"}}}  # the registry refuses this
    roles = devices.choices(home, config, dev_root=dev, sys_root=sys)
    with pytest.raises(devices.DevicesError, match="设备配置无效"):
        devices.validate(config, roles, {})
    (home / "drivers.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(devices.DevicesError, match="无法读取"):
        devices.change(home, {"printer": "file"}, dev_root=dev, sys_root=sys)
    assert (home / "drivers.json").read_text(encoding="utf-8") == "{not json"
    assert not (home / "drivers.json.bak").exists()
