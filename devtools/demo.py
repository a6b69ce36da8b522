"""``kiosk demo``: the whole loop on one machine with simulated hardware.

A private Mosquitto, the central (``kiosk-central serve``) and the sync daemon (``kiosk-syncd``) run
as their own processes, as on a real deployment; the kiosk UI runs here. With a display the window
opens for you to use. Without one, a scripted resident taps through the screens offscreen, a PNG of
every screen is saved, and the demo waits until the central has stored and acknowledged the
submission, prints the central's record (personal data masked) and exits.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from central.keys import CentralKeys
from central.store import CentralStore
from central.trust import register_key
from devtools.broker import MosquittoBroker
from devtools.processes import stop_process
from sync.device import OUTBOX_FILE, DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol.signing import DeviceSigner

log = logging.getLogger("kiosk.demo")  # the name operators know from `kiosk demo`

DEMO_DEVICE = "demo-kiosk-01"
DEMO_SITE = "演示街道便民服务中心"
DEMO_NAME = "张三"  # the Chinese "John Doe": demo data, not a person


class DemoError(RuntimeError):
    pass


def _spawn(args: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    out = open(log_file, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    finally:
        out.close()


def run_demo(output: Path, headless: bool, timeout_s: float = 90.0) -> int:
    work = Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    broker = MosquittoBroker()
    central = syncd = None
    try:
        broker.start()
        print(f"[demo] private broker on {broker.url}")
        central_home = work / "central"
        keys = CentralKeys.generate()
        keys.save(central_home)
        signer = DeviceSigner.generate()  # the kiosk's device key, enrolled before the central serves
        enrolment = CentralStore(f"sqlite:///{central_home / 'central.db'}")
        register_key(enrolment, DEMO_DEVICE, signer.public_raw, how="demo")
        enrolment.close()
        central = _spawn(["central.cli", "serve", "--home", str(central_home), "--broker", broker.url],
                         work / "central.log")
        kiosk_home = work / "kiosk"
        kiosk_home.mkdir()
        device = DeviceConfig(DEMO_DEVICE, DEMO_SITE, broker.url, base64.b64encode(keys.seal.public_raw).decode(),
                              base64.b64encode(keys.command_public_raw).decode())
        device.save(kiosk_home)
        signer.save(kiosk_home)
        outbox = Outbox(kiosk_home / OUTBOX_FILE)
        syncd = _spawn(["sync.daemon.cli", "--home", str(kiosk_home)], work / "syncd.log")
        print(f"[demo] central and sync daemon started (logs in {work})")
        code = (_scripted_session(outbox, device, output, timeout_s, kiosk_home) if headless
                else _interactive(outbox, device, kiosk_home))
        if code == 0:
            records = subprocess.run(
                [sys.executable, "-m", "central.cli", "submissions", "--json", "--home", str(central_home)],
                capture_output=True, text=True, check=True).stdout
            print("[demo] the central's record (personal data masked):")
            print(json.dumps(json.loads(records), ensure_ascii=False, indent=2))
        outbox.close()
        return code
    finally:
        stop_process(syncd)
        stop_process(central)
        broker.cleanup()
        if os.environ.get("KIOSK_DEMO_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


def _interactive(outbox: Outbox, device: DeviceConfig, home: Path) -> int:
    from kiosk.app import ensure_application, load_ui
    from kiosk.hardware import Hardware
    from kiosk.journey.submitter import Submitter

    app = ensure_application()
    hardware = Hardware.simulated(home)
    engine, _window = load_ui(Submitter(outbox, device), hardware=hardware)
    print("[demo] the kiosk window is open (simulated ID card: python -m drivers.idcard.simulator); "
          "close it to end the demo")
    try:
        code = app.exec()
    finally:
        del engine
        hardware.close()
    return int(code)


# What the scripted resident types into fields the ID card does not fill (demo data, not a person).
DEMO_VALUES = {"phone": "13800138000", "date": "1950-01-31", "address": "北京市朝阳区示例路1号",
               "id_number": "11010519491231002X", "name": DEMO_NAME, "text": "示例"}


def _scripted_session(outbox: Outbox, device: DeviceConfig, output: Path, timeout_s: float, home: Path) -> int:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import dataclasses

    from drivers.idcard.simulator import SAMPLE_RECORD
    from kiosk import automation as ui
    from kiosk.app import ensure_application, journey_of, load_ui, view_model
    from kiosk.catalog.model import load_catalog
    from kiosk.hardware import Hardware
    from kiosk.journey.form_vm import FormViewModel
    from kiosk.journey.materials_vm import MaterialsViewModel
    from kiosk.journey.submission_vm import DoneViewModel
    from kiosk.journey.submitter import Submitter

    ensure_application()
    catalog = load_catalog()
    item = next((it for it in catalog.items if getattr(it, "materials", ())), catalog.items[0])
    hardware = Hardware.simulated(home, enable_ocr=False)
    engine, window = load_ui(Submitter(outbox, device), hardware=hardware, catalog=catalog)
    vm = journey_of(window)
    form, materials, done = (view_model(window, FormViewModel), view_model(window, MaterialsViewModel),
                             view_model(window, DoneViewModel))
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("*.png"):
        old.unlink()
    shots: list[Path] = []

    def shot(name: str) -> None:
        shots.append(ui.screenshot(window, output / f"{len(shots) + 1:02d}-{name}.png"))

    try:
        ui.wait_for_item(window, "attractScreen")
        # Let the daemon connect first so the screens show the online state (the journey works either way).
        ui.process_events_until(lambda: vm.online, timeout_s=15)
        shot("attract")
        ui.tap_named(window, "startButton")
        ui.wait_for_item(window, "homeScreen")
        shot("home")
        for _ in range(3):  # the grid may still settle under the category buttons: tap again if missed
            ui.tap_named(window, f"itemTile_{item.code}")
            if ui.process_events_until(lambda: vm.property("screen") == "item", timeout_s=2):
                break
        ui.wait_for_item(window, "itemScreen")
        shot("service-item")
        ui.tap_named(window, "chooseItemButton")
        ui.wait_for_item(window, "identifyScreen")
        shot("identify")
        assert hardware.drivers is not None and hardware.drivers.idcard is not None
        hardware.drivers.idcard.simulator.place_card(  # type: ignore[attr-defined]
            dataclasses.replace(SAMPLE_RECORD, name=DEMO_NAME))
        ui.wait_for_item(window, "formScreen", timeout_s=15)
        for row in form.fields_model.rows:
            if row["isRequired"] and not row["value"] and not row["locked"]:
                if row["options"]:
                    ui.tap_named(window, f"{row['objName']}_option_{row['options'][0]['value']}")
                else:
                    ui.enter_text(window, row["objName"], DEMO_VALUES.get(row["kind"], DEMO_VALUES["text"]))
        shot("form")
        ui.tap_named(window, "formNextButton")
        if materials.materials_model.rows:
            ui.wait_for_item(window, "materialsScreen")
            ui.process_events_until(lambda: materials.property("previewFrame") > 0, timeout_s=5)
            for i, m in enumerate(materials.materials_model.rows):
                if m["mstate"] == "needed" and m["isRequired"]:
                    ui.tap_named(window, f"missing_{i}" if m["allowMissing"] else f"capture_{i}")
                    ui.process_events_until(lambda i=i: materials.materials_model.rows[i]["mstate"] != "needed", 10)
            shot("materials")
            ui.tap_named(window, "materialsNextButton")
        ui.wait_for_item(window, "deliveryScreen")
        shot("delivery")
        ui.tap_named(window, "deliveryNextButton")
        ui.wait_for_item(window, "reviewScreen")
        shot("review")
        ui.tap_named(window, "commitmentBox")  # 告知承诺
        ui.tap_named(window, "submitButton")
        ui.wait_for_item(window, "doneScreen", timeout_s=15)
        receipt = done.receiptNumber
        ui.process_events_until(lambda: done.printState != "", timeout_s=5)
        shot("submitted")
        print(f"[demo] resident submitted; receipt {receipt}")
        started = time.monotonic()
        delivered = ui.process_events_until(lambda: outbox.counts()["acked"] >= 1, timeout_s)
        if not delivered:
            print(f"[demo] FAILED: the central did not acknowledge within {timeout_s:.0f} s", file=sys.stderr)
            return 1
        print(f"[demo] the central stored and acknowledged it in {time.monotonic() - started:.2f} s")
        ui.tap_named(window, "finishButton")
        ui.wait_for_item(window, "ratingScreen")
        shot("rating")
        ui.tap_named(window, "rate_1")
        ui.wait_for_item(window, "thanksScreen")
        ui.tap_named(window, "thanksHomeButton")
        ui.wait_for_item(window, "attractScreen")
        shot("back-to-attract")
    finally:
        vm.shutdown()
        hardware.close()
        del engine
    print(f"[demo] {len(shots)} screenshots in {output}/")
    return 0
