"""``kiosk demo --headless --gallery DIR``: every screen of the resident's journey, rendered offscreen in
zh/en × standard/elder × 1280×1024, 1920×1080 and 1080×1920, with the keyboard open on each kind of field,
the idle overlay, offline, and each error; a PNG per shot and ``layout.json`` listing every violation the
layout checks find (``kiosk/layout_checks.py``, the same checks the test suite runs).

The kiosk runs on the shipped catalogue with simulated hardware and a real outbox; no broker is needed
(the machine's online state is written into the outbox the way the sync daemon reports it). The gallery's item
is given the face check (人证核验) and the signed commitment (告知承诺) as an item that asks for them has them,
so their screens are in the journey: the signing pad empty, refused (too short) and signed; and, with the ID
card on the simulated reader and the simulated face camera, the oval guide, the turn prompt, a failure with
再试一次 and, after three, staff help and the counter's check (the camera shows the card's holder, then another
person: drivers/data).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kiosk.gallery_driver import (
    Driver,
    GalleryReport,
    Shot,
    chosen,
    screen_choices,
    screen_fields,
    screen_names,
)

log = logging.getLogger("kiosk.gallery")

RESOLUTIONS = ((1280, 1024), (1920, 1080), (1080, 1920))
LANGUAGES = ("zh", "en")
MODES = ("standard", "elder")
GALLERY_ITEM = "GA-JZZ-007"  # 居住证申领: every kind of field, materials, post delivery
PROMISE_FROM = "JS-ZSZM-005"  # 居住证明开具: its promise (about where one lives) for the gallery item's signing
# By the fields' inputKind (KField.qml); demo data, not a person.
FIELD_SAMPLES = {"idnumber": "11010519491231002X", "phone": "13800138000", "date": "1950-01-31",
                 "digits": "100020", "text": "示例"}
LONG_ADDRESS = "北京市朝阳区示例路1号院2号楼3单元401室"


def sample(name: str, kind: str) -> str:
    return LONG_ADDRESS if "address" in name.lower() else FIELD_SAMPLES.get(kind, FIELD_SAMPLES["text"])


def _journey(d: Driver) -> Iterator[str]:
    """Walk one resident's journey, yielding a shot name at each state worth a picture."""
    vm = d.vm
    from kiosk import automation as ui

    d.wait("attractScreen")
    yield "attract"
    d.tap("startButton", lambda: vm.property("screen") == "home")
    d.wait("homeScreen")
    yield "home"
    d.type_into("searchField", "jzz")
    yield "home-search-keyboard"
    d.hide_keyboard()
    yield "home-search-results"
    d.tap(f"itemTile_{GALLERY_ITEM}", lambda: vm.property("screen") == "item")
    d.wait("itemScreen")
    yield "item"
    d.tap("chooseItemButton", lambda: vm.property("screen") == "identify")
    d.wait("identifyScreen")
    yield "identify"
    d.tap("manualButton", lambda: vm.property("screen") == "form")
    d.wait("formScreen")
    yield "form"
    d.tap("formNextButton")
    d.settle(0.4)
    yield "form-errors"
    kinds_done: set[str] = set()
    for name, kind in screen_fields(d, "formScreen"):
        if kind in kinds_done:
            continue
        kinds_done.add(kind)
        d.type_into(name, sample(name, kind))
        yield f"form-keyboard-{kind}"
    for name, kind in screen_fields(d, "formScreen"):
        if not d.item(name).property("text"):
            d.type_into(name, sample(name, kind))
    d.hide_keyboard()
    for group in screen_choices(d, "formScreen"):
        d.tap(group[0], chosen(d, group[0]))
    d.hide_keyboard()
    yield from _idle(d, "formScreen")
    d.tap("formNextButton", lambda: vm.property("screen") != "form")
    if vm.property("screen") == "materials":
        d.wait("materialsScreen")
        yield "materials"
        d.tap("materialsNextButton")
        d.settle(0.4)
        yield "materials-errors"
        for i in range(20):
            if ui.find_item(d.window, f"materialState_{i}") is None:
                break
            if ui.find_item(d.window, f"missing_{i}") is not None:  # 容缺: bring it later
                ui.tap_named(d.window, f"missing_{i}")
                d.settle(0.4)
                continue
            # the capture's quality check may refuse a simulated frame (no document found): try again
            for _attempt in range(4):
                if ui.find_item(d.window, f"retake_{i}") is not None or ui.find_item(d.window, f"capture_{i}") is None:
                    break
                ui.tap_named(d.window, f"capture_{i}")
                d.settle(0.8)
        d.settle(0.5)
        yield "materials-done"
        d.tap("materialsNextButton", lambda: vm.property("screen") == "delivery")
    d.wait("deliveryScreen")
    yield "delivery"
    if ui.find_item(d.window, "deliveryPost") is not None:
        d.tap("deliveryPost")
        d.settle(0.3)
        d.tap("deliveryNextButton")
        d.settle(0.3)
        yield "delivery-post-errors"
        d.type_into("addressField", LONG_ADDRESS)
        yield "delivery-keyboard-address"
        d.type_into("phoneField", FIELD_SAMPLES["phone"])
        yield "delivery-keyboard-phone"
        d.hide_keyboard()
        d.tap("deliveryOnsite")
    d.tap("deliveryNextButton", lambda: vm.property("screen") == "review")
    d.wait("reviewScreen")
    yield "review"
    if ui.find_item(d.window, "commitmentBox") is not None:  # 告知承诺 before submitting
        d.tap("commitmentBox")
        d.settle(0.3)
        yield "review-committed"
    d.tap("submitButton", lambda: vm.property("screen") in ("done", "sign"))
    if vm.property("screen") == "sign":
        yield from _sign(d)
    d.wait("doneScreen", 15)
    yield "done"


def _sign(d: Driver) -> Iterator[str]:
    """签名确认: the pad empty, a tick refused as too short, then a name-like signature and on to the receipt."""
    from kiosk import automation as ui

    d.wait("signScreen")
    yield "sign"
    pad = d.item("signatureArea")
    w, h = float(pad.property("width")), float(pad.property("height"))
    ui.draw(d.window, pad, [[(0.1 * w, 0.5 * h), (0.11 * w, 0.52 * h), (0.12 * w, 0.5 * h)]])
    d.tap("signConfirmButton", lambda: bool(d.vm.property("errorText")))
    d.settle(0.3)
    yield "sign-too-short"
    d.tap("signClearButton")
    strokes = [[(w * (0.08 + 0.03 * i), h * (0.45 + 0.08 * (i % 3))) for i in range(8)],
               [(w * (0.4 + 0.025 * i), h * (0.35 + 0.1 * (i % 2))) for i in range(8)],
               [(w * 0.7, h * 0.3), (w * 0.73, h * 0.6), (w * 0.76, h * 0.7), (w * 0.82, h * 0.5), (w * 0.9, h * 0.4)]]
    ui.draw(d.window, pad, strokes)
    d.settle(0.3)
    yield "sign-signed"
    d.tap("signConfirmButton", lambda: d.vm.property("screen") == "done")


def _face(d: Driver, lang: str, elder: bool) -> Iterator[str]:
    """人证核验 with the card on the reader: the oval guide with nobody in it, the turn prompt for the card's holder,
    then another person: 对不上 with 再试一次, and after three failures staff help and the counter's check."""
    import cv2
    import numpy as np

    from drivers import data as driver_data
    from drivers.face.replay_sim import live_frame
    from drivers.idcard.simulator import SAMPLE_RECORD
    from kiosk.app import view_model
    from kiosk.camera.face_runner import FACE
    from kiosk.journey.face_vm import FaceViewModel

    drivers = d.hardware.drivers if d.hardware is not None else None
    if drivers is None or FACE not in drivers.cameras:
        return
    reader, camera = drivers.idcard.simulator, drivers.cameras[FACE]
    vm = view_model(d.window, FaceViewModel)
    faces = Path(driver_data.__file__).resolve().parent

    def person(name: str) -> np.ndarray:
        image = cv2.imread(str(faces / f"{name}.png"), cv2.IMREAD_COLOR)
        if image is None:
            raise RuntimeError(f"drivers/data/{name}.png is missing")
        return live_frame(image)

    def card_on_reader() -> None:
        d.vm.endSession()
        d.wait("attractScreen")
        d.set_look(lang, elder)
        d.tap("startButton", lambda: d.vm.property("screen") == "home")
        d.wait("homeScreen")
        d.type_into("searchField", "jzz")
        d.hide_keyboard()
        d.tap(f"itemTile_{GALLERY_ITEM}", lambda: d.vm.property("screen") == "item")
        d.tap("chooseItemButton", lambda: d.vm.property("screen") == "identify")
        reader.remove_card()
        reader.place_card(SAMPLE_RECORD)  # with the simulator's photo of the card's holder
        d.wait("faceScreen", 15)

    def until(done: Callable[[], bool], what: str) -> None:
        from kiosk import automation as ui

        if not ui.process_events_until(done, 30):
            raise RuntimeError(f"the face screen never showed {what}")
        d.settle(0.4)

    camera.show(np.full((480, 640, 3), 100, np.uint8))  # nobody in front of the camera yet
    card_on_reader()
    until(lambda: vm._prompt == "no_face", "the oval guide's prompt")  # the runner's prompt
    yield "face-guide"
    camera.show(person("sim_card_face"))
    until(lambda: str(vm._prompt).startswith("turn_"), "the turn prompt")  # left or right
    yield "face-turn"
    camera.show(person("sim_stranger_face"))  # another person holds the card
    card_on_reader()
    for failures in (1, 2, 3):
        until(lambda: vm.property("failures") == failures, f"failure {failures}")  # noqa: B023 - waited on here
        if failures == 1:
            yield "face-failed"
        if failures < 3:
            d.tap("faceRetryButton",
                  lambda: vm.property("state") != "failed" or vm.property("failures") > failures)  # noqa: B023
    until(lambda: bool(d.item("faceManualButton").isVisible()), "staff help")
    yield "face-help"
    d.vm.endSession()
    reader.remove_card()
    camera.show(np.full((480, 640, 3), 100, np.uint8))


def _idle(d: Driver, screen: str) -> Iterator[str]:
    """The idle countdown over a screen with the keyboard open, then one tap to go on."""
    vm = d.vm
    from kiosk import automation as ui

    d.type_into(screen_fields(d, screen)[0][0], "")
    lang, elder = vm.property("language"), bool(vm.property("elderMode"))
    vm.apply_settings(idle_timeout_s=0.2, language=lang, elder_mode=elder)
    try:
        ui.process_events_until(lambda: bool(vm.property("idleWarning")), 5)
        d.settle(0.5)
        yield "idle-overlay"
    finally:
        vm.apply_settings(idle_timeout_s=3600, language=lang, elder_mode=elder)
    d.tap("idleContinueButton", lambda: not vm.property("idleWarning"))
    d.wait(screen)
    d.hide_keyboard()


def _after(d: Driver) -> Iterator[str]:
    """From the receipt: rating (with a reason), complaint, status, thanks, paused."""
    vm = d.vm
    from kiosk import automation as ui

    if ui.find_item(d.window, "finishButton") is not None:
        d.tap("finishButton", lambda: vm.property("screen") != "done")
    if vm.property("screen") == "rating":
        d.wait("ratingScreen")
        yield "rating"
        levels = sorted(n for n in screen_names(d, "ratingScreen") if n.startswith("rate_"))
        for level in (levels[-1:] + levels[:1]) if levels else []:
            d.tap(level)  # the lowest level asks for a reason
            d.settle(0.3)
            if ui.find_item(d.window, "reasonText") is not None:
                break
        if ui.find_item(d.window, "reasonText") is not None:
            yield "rating-reasons"
            d.type_into("reasonText", "示例")
            yield "rating-keyboard-reason"
            d.hide_keyboard()
        d.tap("skipRatingButton", lambda: vm.property("screen") != "rating")
    vm.endSession()
    d.wait("attractScreen")
    d.tap("startButton", lambda: vm.property("screen") == "home")
    d.tap("complaintButton", lambda: vm.property("screen") == "complaint")
    d.wait("complaintScreen")
    yield "complaint"
    d.tap("submitComplaintButton")
    d.settle(0.3)
    yield "complaint-errors"
    d.type_into("complaintText", "示例")
    yield "complaint-keyboard-text"
    d.type_into("complaintPhone", FIELD_SAMPLES["phone"])
    yield "complaint-keyboard-phone"
    d.hide_keyboard()
    d.tap("backButton")
    d.settle(0.4)
    if ui.find_item(d.window, "leaveDialog") is not None:  # 放弃本次办理？
        yield "leave-dialog"
        d.tap("leaveYesButton")
    if vm.property("screen") != "home":
        vm.goHome()
    ui.process_events_until(lambda: vm.property("screen") == "home", 3)
    d.tap("statusButton", lambda: vm.property("screen") == "status")
    d.wait("statusScreen")
    yield "status"
    d.type_into("receiptField", "KR-20260101-A1")
    yield "status-keyboard-receipt"
    d.tap("lookupButton")
    d.settle(0.5)
    d.hide_keyboard()
    yield "status-result"
    vm.endSession()
    d.wait("attractScreen")


def gallery_catalog() -> Any:
    """The shipped catalogue, its gallery item asking for the face check (image kept) and a signed promise."""
    import dataclasses

    from kiosk.catalog.model import load_catalog

    catalog = load_catalog()
    promise = catalog.item(PROMISE_FROM)
    items = tuple(dataclasses.replace(it, face_check=True, face_image=True, signature=True,
                                      commitment_zh=it.commitment_zh or promise.commitment_zh,
                                      commitment_en=it.commitment_en or promise.commitment_en)
                  if it.code == GALLERY_ITEM else it for it in catalog.items)
    return dataclasses.replace(catalog, items=items)


def render_gallery(output: Path, *, resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS,
                   languages: tuple[str, ...] = LANGUAGES, modes: tuple[str, ...] = MODES) -> GalleryReport:
    """Render the gallery into ``output`` (PNGs and layout.json) and return the report."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kiosk import automation as ui
    from kiosk.app import ensure_application, journey_of, load_ui
    from kiosk.hardware import Hardware
    from kiosk.journey.config import JourneyConfig
    from kiosk.journey.submitter import Submitter
    from kiosk.layout_checks import check_window
    from sync.device import OUTBOX_FILE, DeviceConfig
    from sync.outbox.store import Outbox
    from sync.protocol.sealing import SealKeyPair

    ensure_application()
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("*.png"):
        old.unlink()
    report = GalleryReport()
    with tempfile.TemporaryDirectory(prefix="kiosk-gallery-") as tmp:
        home = Path(tmp) / "kiosk"
        home.mkdir()
        # The central's public keys as a provisioned kiosk holds them (nothing is sent: no broker).
        command = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                        serialization.PublicFormat.Raw)
        device = DeviceConfig("gallery-kiosk-01", "演示街道便民服务中心", "mqtt://127.0.0.1:9",
                              base64.b64encode(SealKeyPair.generate().public_raw).decode(),
                              base64.b64encode(command).decode())
        device.save(home)
        outbox = Outbox(home / OUTBOX_FILE)
        hardware = Hardware.simulated(home, enable_ocr=False)
        config = JourneyConfig(keyboard_root=Path(tmp) / "keyboard", voice=False, idle_timeout_s=3600)
        engine, window = load_ui(Submitter(outbox, device), hardware=hardware, config=config,
                                 catalog=gallery_catalog())
        vm = journey_of(window)
        d = Driver(window, vm, outbox, hardware)
        try:
            for w, h in resolutions:
                window.resize(w, h)
                for lang in languages:
                    for mode in modes:
                        _combo(d, report, output, lang, mode, (w, h), check_window)
        finally:
            vm.shutdown()
            window.close()
            del engine
            hardware.close()
            outbox.close()
    (output / "layout.json").write_text(json.dumps(report.as_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    ui.process_events_until(lambda: False, 0.1)
    return report


def _combo(d: Driver, report: GalleryReport, output: Path, lang: str, mode: str, size: tuple[int, int],
           check: Any) -> None:
    from kiosk import automation as ui

    elder = mode == "elder"
    tag = f"{lang}-{mode}-{size[0]}x{size[1]}"
    d.vm.endSession()
    d.settle(0.3)

    def shoot(name: str) -> None:
        if online[0]:
            d.outbox.set_states({"connected": "1", "daemon_seen": str(time.time())})
        png = output / f"{tag}-{len([s for s in report.shots if s.png.startswith(tag)]) + 1:02d}-{name}.png"
        image = d.window.grabWindow()
        image.save(str(png))
        found = check(d.window, elder=elder, image=image)
        report.shots.append(Shot(name, png.name, lang, mode, f"{size[0]}x{size[1]}", [v.as_dict() for v in found]))

    online = [True]
    try:
        d.set_online(True)
        d.set_look(lang, elder)
        for name in _journey(d):
            d.set_look(lang, elder) if name == "attract" else None
            shoot(name)
        for name in _after(d):
            shoot(name)
        for name in _face(d, lang, elder):
            shoot(name)
        online[0] = False
        d.set_online(False)
        d.set_look(lang, elder)
        d.tap("startButton", lambda: d.vm.property("screen") == "home")
        d.wait("homeScreen")
        shoot("home-offline")
        d.vm.endSession()
        d.outbox.set_states({"maintenance": "1", "maintenance_message": "系统维护中，请稍后再来"})
        d.vm.refreshStatus()
        if ui.process_events_until(lambda: d.vm.property("screen") == "maintenance", 5):
            d.settle(0.3)
            shoot("maintenance")
        d.outbox.set_states({"maintenance": "0", "maintenance_message": ""})
        d.vm.refreshStatus()
        ui.process_events_until(lambda: d.vm.property("screen") == "attract", 5)
    except Exception as exc:  # a step the gallery could not take is a finding too
        log.exception("gallery %s stopped", tag)
        report.errors.append(f"{tag}: {type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):  # the report already says what went wrong
            shoot("error-state")
