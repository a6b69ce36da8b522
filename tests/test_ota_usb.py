"""The USB path (issue 17): a technician applies a signed release from a USB stick in service mode
(``kiosk update-usb``); the daemon applies it with the same verification and health gate as an update from the
central, and a forged one is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.ota.health import HEALTH_MARK
from sync.ota.inbox import inbox
from tests import test_ota
from tests.helpers import wait_until
from tests.test_ota import BIN, OLD, Kiosk, release_archive, write_manifest

kiosk = test_ota.kiosk  # the OTA tests' kiosk: real broker, central, daemon and executor


def usb_results(k: Kiosk) -> list[dict[str, Any]]:
    return [e["meta"] for e in k.central.store.events("command_result") if e["meta"].get("source") == "usb"]


def update_usb(k: Kiosk, stick: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "kiosk"), "update-usb", "--from", str(stick), "--home", str(k.home)],
                          capture_output=True, text=True, timeout=60)


def test_a_signed_release_from_a_usb_stick_is_applied_through_the_health_gate(kiosk: Kiosk, tmp_path: Path) -> None:
    stick = tmp_path / "media" / "USB" / "releases"
    stick.mkdir(parents=True)
    write_manifest(release_archive(stick / "street-kiosk-2.0.0.tar.gz", "2.0.0"), "2.0.0")
    out = update_usb(kiosk, stick.parent)
    assert out.returncode == 0 and "release 2.0.0 staged" in out.stdout, out.stderr
    kiosk.reboot()  # the daemon took it from the inbox, verified, unpacked, switched: restart into it
    wait_until(lambda: bool(usb_results(kiosk)), timeout=30, what="the USB update's result")
    [result] = usb_results(kiosk)
    assert (result["ok"], result["running_version"], result["to_version"]) == (True, "2.0.0", "2.0.0")
    assert (kiosk.releases.path("2.0.0") / HEALTH_MARK).exists()
    assert json.loads(kiosk.outbox.states()["usb_update"])["ok"] is True
    status = subprocess.run([str(BIN / "kiosk"), "status", "--json", "--home", str(kiosk.home)], capture_output=True,
                            text=True, timeout=60)
    software = json.loads(status.stdout)["software"]
    assert (software["release"], software["usb_update"]["version"]) == ("2.0.0", "2.0.0")
    assert list(inbox(kiosk.home).iterdir()) == []  # nothing left behind


def test_a_forged_release_on_a_stick_is_refused(kiosk: Kiosk, tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    forged = release_archive(stick / "street-kiosk-6.6.6.tar.gz", "6.6.6", extra={"bin/app": b"#!/bin/sh\nsteal\n"})
    write_manifest(forged, "6.6.6", key=Ed25519PrivateKey.generate())  # not the pinned release key
    assert update_usb(kiosk, stick).returncode == 0
    wait_until(lambda: bool(usb_results(kiosk)), timeout=30, what="the refusal")
    [result] = usb_results(kiosk)
    assert (result["ok"], result["reason"], result["stage"]) == (False, "refused", "verify")
    assert "signature" in result["detail"]
    assert kiosk.releases.installed() == [OLD] and not kiosk.restarts.is_set()
    assert json.loads(kiosk.outbox.states()["usb_update"])["ok"] is False
    assert update_usb(kiosk, tmp_path / "empty-stick").returncode == 2  # nothing there: said so


def test_the_service_mode_button_stages_the_release_on_the_stick(qtbot: Any, tmp_path: Path, outbox: Any,
                                                                 device: Any) -> None:
    from kiosk.app import service_of
    from tests.journey_kit import close_kiosk, open_kiosk

    k = open_kiosk(tmp_path, outbox, device, hardware=False)
    try:
        service = service_of(k.window)
        assert "usbUpdateButton" in (Path(__file__).parents[1] / "kiosk/qml/service/DataPage.qml").read_text()
        service.dataPage.applyUsbUpdate(str(tmp_path / "empty"))
        qtbot.waitUntil(lambda: not service.property("busy") and bool(service.property("message")), timeout=10000)
        assert service.property("messageOk") is False  # nothing on the stick: said so
        stick = tmp_path / "stick"
        stick.mkdir()
        write_manifest(release_archive(stick / "street-kiosk-2.0.0.tar.gz", "2.0.0"), "2.0.0")
        service.dataPage.applyUsbUpdate(str(stick))
        qtbot.waitUntil(lambda: "2.0.0" in str(service.property("message")), timeout=10000)
        assert service.property("messageOk") is True
        home = Path(service.home)
        assert sorted(p.name for p in inbox(home).iterdir()) == ["street-kiosk-2.0.0.tar.gz",
                                                                  "street-kiosk-2.0.0.tar.gz.release.json"]
    finally:
        close_kiosk(k)
