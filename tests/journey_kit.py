"""What the journey tests share: a small catalogue built in code (independent of the shipped data),
a window on real QML with simulated hardware and a real SQLite outbox, and form-filling helpers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import segno
from PySide6.QtQuick import QQuickWindow

from kiosk import automation as ui
from kiosk.app import ensure_application, journey_of, load_ui, view_model
from kiosk.catalog.model import (
    Catalog,
    Category,
    Condition,
    EligibilityRule,
    FormField,
    Material,
    Option,
    ServiceItem,
)
from kiosk.hardware import Hardware
from kiosk.journey.catalogue_vm import HomeViewModel
from kiosk.journey.config import JourneyConfig
from kiosk.journey.feedback_vm import RatingViewModel
from kiosk.journey.form_vm import FormViewModel
from kiosk.journey.identify_vm import IdentifyViewModel
from kiosk.journey.materials_vm import MaterialsViewModel
from kiosk.journey.status_vm import StatusViewModel
from kiosk.journey.submission_vm import DeliveryViewModel, DoneViewModel, ReviewViewModel
from kiosk.journey.submitter import Submitter
from kiosk.journey.viewmodel import JourneyViewModel
from sync.device import DeviceConfig
from sync.outbox.store import Outbox

JZZ = "GA-JZZ-001"
LNYD = "MZ-LNYD-001"
SEX = (Option("男", "男", "Male"), Option("女", "女", "Female"))


def journey_catalog() -> Catalog:
    jzz = ServiceItem(
        code=JZZ, name_zh="居住证申领", name_en="Residence permit application", department_zh="区公安分局",
        guidance_zh="在本市居住半年以上的非本市户籍人员可申领。", pinyin="ju zhu zheng shen ling", initials="jzzsl",
        category="hj", category_zh="户籍证件", category_en="Household & ID",
        fields=(
            FormField("applicant_name", "name", "申请人姓名", "Applicant's name", True, prefill="name"),
            FormField("id_number", "id_number", "身份证号", "ID number", True, prefill="id_number"),
            FormField("sex", "choice", "性别", "Sex", True, prefill="sex", options=SEX),
            FormField("birth_date", "date", "出生日期", "Date of birth", True, prefill="birth_date"),
            FormField("address", "address", "居住地址", "Address", True, prefill="address"),
            FormField("phone", "phone", "联系电话", "Phone", True),
        ),
        materials=(
            Material("residence_proof", "居住证明", "Proof of residence", True, rongque=True),
            Material("hukou", "居民户口簿", "Household register", True, elicence=("hukou",)),
        ),
        delivery=("onsite", "post"),
    )
    lnyd = ServiceItem(
        code=LNYD, name_zh="老年人优待证申领", name_en="Senior citizen card", department_zh="区民政局",
        guidance_zh="年满60周岁的老年人可申领。", pinyin="lao nian ren you dai zheng shen ling", initials="lnrydzsl",
        category="mz", category_zh="民政服务", category_en="Civil affairs",
        fields=(FormField("applicant_name", "name", "申请人姓名", "Applicant's name", True, prefill="name"),),
    )
    return Catalog("2026.1.0", (jzz, lnyd),
                   categories=(Category("hj", "户籍证件", "Household & ID", ""),
                               Category("mz", "民政服务", "Civil affairs", "")),
                   rules=(EligibilityRule(Condition(age_gte=60), LNYD, "年满60周岁可申领老年人优待证",
                                          "Aged 60+: senior citizen card"),))


def qr_frame(text: str, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    buf = io.BytesIO()
    segno.make(text, encoding="utf-8", error="m").save(buf, kind="png", scale=6, border=4)
    code = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    frame = np.full((size[1], size[0], 3), 235, np.uint8)
    y, x = (size[1] - code.shape[0]) // 2, (size[0] - code.shape[1]) // 2
    frame[y:y + code.shape[0], x:x + code.shape[1]] = code
    return frame


@dataclass
class Kiosk:
    window: QQuickWindow
    vm: JourneyViewModel
    hw: Hardware | None
    outbox: Outbox
    device: DeviceConfig
    keyboard_root: Path

    @property
    def idcard_sim(self) -> Any:
        assert self.hw is not None and self.hw.drivers is not None
        return self.hw.drivers.idcard.simulator  # type: ignore[union-attr]

    # The screens' view-models (one per screen, all on the window's journey session).
    @property
    def home(self) -> HomeViewModel:
        return view_model(self.window, HomeViewModel)

    @property
    def identify(self) -> IdentifyViewModel:
        return view_model(self.window, IdentifyViewModel)

    @property
    def form(self) -> FormViewModel:
        return view_model(self.window, FormViewModel)

    @property
    def materials(self) -> MaterialsViewModel:
        return view_model(self.window, MaterialsViewModel)

    @property
    def delivery(self) -> DeliveryViewModel:
        return view_model(self.window, DeliveryViewModel)

    @property
    def review(self) -> ReviewViewModel:
        return view_model(self.window, ReviewViewModel)

    @property
    def done(self) -> DoneViewModel:
        return view_model(self.window, DoneViewModel)

    @property
    def rating(self) -> RatingViewModel:
        return view_model(self.window, RatingViewModel)

    @property
    def status(self) -> StatusViewModel:
        return view_model(self.window, StatusViewModel)

    def camera(self, role: str) -> Any:
        assert self.hw is not None and self.hw.drivers is not None
        return self.hw.drivers.cameras[role]


def open_kiosk(tmp: Path, outbox: Outbox, device: DeviceConfig, *, hardware: bool = True,
               catalog: Catalog | None = None, **config: Any) -> Kiosk:
    ensure_application()
    hw = Hardware.simulated(tmp / "hw", enable_ocr=config.pop("enable_ocr", True)) if hardware else None
    keyboard_root = tmp / "keyboard"
    # Taps of these scripted residents come at once; the 500 ms guard after a screen change is tested
    # on its own (test_journey_safety.py) with tap_guard_s=0.5.
    config.setdefault("tap_guard_s", 0.0)
    cfg = JourneyConfig(keyboard_root=keyboard_root, voice=False, **config)
    engine, win = load_ui(Submitter(outbox, device), hardware=hw, config=cfg, catalog=catalog or journey_catalog())
    win.setProperty("_engine_ref", id(engine))
    Kiosk._engines.append(engine)  # type: ignore[attr-defined]
    return Kiosk(win, journey_of(win), hw, outbox, device, keyboard_root)


Kiosk._engines = []  # type: ignore[attr-defined]


def close_kiosk(k: Kiosk) -> None:
    k.vm.shutdown()
    k.window.close()
    if k.hw is not None:
        k.hw.close()
    Kiosk._engines.clear()  # type: ignore[attr-defined]


def kiosk_fixture(tmp_path: Path, outbox: Outbox, device: DeviceConfig, **kw: Any) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, **kw)
    yield k
    close_kiosk(k)


def go_to_item(k: Kiosk, code: str) -> None:
    ui.tap_named(k.window, "startButton")
    ui.wait_for_item(k.window, "homeScreen")
    # The grid may still settle under the category buttons: tap again if the first tap missed.
    tap_until(k.window, f"itemTile_{code}", lambda: k.vm.screen == "item")
    ui.wait_for_item(k.window, "itemScreen")
    ui.tap_named(k.window, "chooseItemButton")


SAMPLES = {"name": "李四", "id_number": "11010519491231002X", "phone": "13800138000", "date": "1950-01-31",
           "address": "北京市朝阳区示例路2号", "text": "示例"}


def fill_required(k: Kiosk) -> None:
    """Type a valid value into every required field still empty (as the keyboard would commit it)."""
    for row in k.form.formFields.rows:
        if not row["isRequired"] or row["value"] or row["locked"]:
            continue
        if row["options"]:
            ui.tap_named(k.window, f"{row['objName']}_option_{row['options'][0]['value']}")
        else:
            ui.enter_text(k.window, row["objName"], SAMPLES.get(row["kind"], SAMPLES["text"]))


def through_to_done(k: Kiosk) -> str:
    """From the form to the receipt: fill, materials (容缺 / capture), on-site delivery, review, submit."""
    ui.wait_for_item(k.window, "formScreen")
    fill_required(k)
    ui.tap_named(k.window, "formNextButton")
    if k.materials.materials.rows:
        ui.wait_for_item(k.window, "materialsScreen")
        for i, m in enumerate(k.materials.materials.rows):
            if m["mstate"] == "needed" and m["isRequired"]:
                if m["allowMissing"]:
                    ui.tap_named(k.window, f"missing_{i}")
                else:
                    ui.tap_named(k.window, f"capture_{i}")
                ui.process_events_until(lambda i=i: k.materials.materials.rows[i]["mstate"] != "needed", 10)
        ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    ui.tap_named(k.window, "commitmentBox")  # 告知承诺
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    return k.done.receiptNumber


def tap_until(window: QQuickWindow, name: str, done: Any, attempts: int = 3) -> None:
    """Tap a button that has just appeared (its layout may settle a frame later) until ``done()``."""
    for _ in range(attempts):
        ui.tap_named(window, name)
        if ui.process_events_until(done, 2):
            return
    raise AssertionError(f"tapping {name!r} had no effect")
