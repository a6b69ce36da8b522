"""告知承诺 and the signature (issue 20): the item's commitment is ticked on the review screen, signed on the
signing pad through the real QML window (offscreen), sealed with the submission as a PNG attachment plus its
stroke vectors, received intact by the central, shown in the admin's audited full view, and gone from the
kiosk after the session. Evidence levels (国办函〔2016〕108号) travel with each material."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRectF

from central.field_encryption import listed_fields
from central.keys import KEYS_FILE, CentralKeys
from central.models import AttachmentFile, Submission
from central.store import CentralStore
from central.web import auth, queries, signature_view
from central.web.app import create_app
from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.app import view_model
from kiosk.catalog.model import Catalog, Category, FormField, Material, ServiceItem
from kiosk.journey import signature as sig
from kiosk.journey.signature_vm import SignatureViewModel
from kiosk.layout_checks import scene_rect
from sync.device import DeviceConfig
from sync.outbox.models import State
from sync.outbox.store import Outbox
from sync.protocol.sealing import open_sealed, seal
from tests.helpers import Central, wait_until
from tests.journey_kit import Kiosk, close_kiosk, fill_required, go_to_item, open_kiosk

with warnings.catch_warnings():  # starlette asks for httpx2; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SIGNED = "WJ-SYDJ-015"
PLAIN = "MZ-LNYD-001"
PROMISE_ZH = "本人承诺：所填婚姻和生育情况真实，没有带结婚证的由本人承诺代替。"

# A name-like signature in pad pixels: three strokes across most of the pad's width.
NAME_STROKES = [
    [(40 + 12 * i, 150 + (i % 5) * 9) for i in range(20)],
    [(300 + 10 * i, 120 + (i % 3) * 15) for i in range(18)],
    [(520, 90), (540, 150), (560, 200), (600, 160), (650, 120), (700, 180)],
]


def signing_catalog() -> Catalog:
    signed = ServiceItem(
        code=SIGNED, name_zh="生育登记", name_en="Birth registration", department_zh="卫健委",
        guidance_zh="夫妻双方到场或一方代办。", pinyin="sheng yu deng ji", initials="sydj",
        category="ws", category_zh="生育", category_en="Birth",
        fields=(FormField("applicant_name", "name", "申请人姓名", "Applicant's name", True, prefill="name"),),
        materials=(Material("marriage", "结婚证", "Marriage certificate", True, declarable=True),
                   Material("photo", "近期照片", "Recent photo", True)),
        commitment_zh=PROMISE_ZH, commitment_en="I promise what I state is true.", signature=True,
    )
    plain = ServiceItem(
        code=PLAIN, name_zh="老年人优待证申领", name_en="Senior citizen card", department_zh="区民政局",
        guidance_zh="年满60周岁的老年人可申领。", pinyin="lao nian ren you dai zheng shen ling", initials="lnrydzsl",
        category="ws", category_zh="生育", category_en="Birth",
        fields=(FormField("applicant_name", "name", "申请人姓名", "Applicant's name", True, prefill="name"),),
    )
    return Catalog("2026.1.0", (signed, plain), categories=(Category("ws", "生育", "Birth", ""),))


# -- the ink, its checks and its rendering (no window) ---------------------------------------------------


def test_ink_checks_and_renders_deterministically(qapp: Any) -> None:
    ink = sig.Ink()
    ink.resize(800, 300)
    assert sig.problem(ink) == "errSignEmpty"
    ink.begin(100, 100)
    ink.add(110, 102)
    assert sig.problem(ink) == "errSignShort"  # a tick is no signature
    ink.clear()
    for stroke in NAME_STROKES:
        ink.begin(*stroke[0])
        for p in stroke[1:]:
            ink.add(*p)
    ink.add(-50, 9999)  # off the pad: clamped to its edge
    assert ink.strokes[-1][-1] == (0, 299)
    assert sig.problem(ink) == ""
    png = sig.render_png(ink)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png == sig.render_png(ink)
    back = sig.ink_from_vectors(json.loads(json.dumps(ink.vectors())))
    assert back == ink and sig.render_png(back) == png
    for bad in ({}, {"width": 0, "height": 1, "strokes": []}, {"width": 5, "height": 5, "strokes": [[["x"]]]}):
        with pytest.raises(ValueError):
            sig.ink_from_vectors(bad)
    assert "PNG" in repr(sig.Signature(png, ink.vectors(), "x", 0.0)) and str(png[:20]) not in repr(
        sig.Signature(png, ink.vectors(), "x", 0.0))


def test_resizing_a_pad_scales_the_ink_with_it(qapp: Any) -> None:
    ink = sig.Ink(400, 200)
    ink.begin(10, 10)
    ink.add(399, 199)
    ink.resize(400, 200)
    assert ink.strokes == [[(10, 10), (399, 199)]]
    ink.resize(800, 100)  # a message appeared above the pad and the window is wider
    assert ink.strokes == [[(20, 5), (798, 99)]] and (ink.width, ink.height) == (800, 100)


# -- through the real UI -----------------------------------------------------------------------------------


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, catalog=signing_catalog())
    yield k
    close_kiosk(k)


def sign_vm(k: Kiosk) -> SignatureViewModel:
    return view_model(k.window, SignatureViewModel)


def to_review(k: Kiosk, code: str = SIGNED) -> None:
    """Card on the reader, the form, materials (marriage declared, the photo taken), on-site delivery."""
    go_to_item(k, code)
    ui.wait_for_item(k.window, "identifyScreen")
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    fill_required(k)
    ui.tap_named(k.window, "formNextButton")
    if code == SIGNED:
        ui.wait_for_item(k.window, "materialsScreen")
        ui.tap_named(k.window, "declare_0")  # 本人承诺代替
        assert ui.process_events_until(lambda: k.materials.materials.rows[0]["mstate"] == "declared", 5)
        ui.tap_named(k.window, "capture_1")
        assert ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "captured", 10)
        ui.tap_named(k.window, "materialsNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")


def sign(k: Kiosk, strokes: list[list[tuple[int, int]]]) -> None:
    pad = ui.wait_for_item(k.window, "signatureArea")
    ui.draw(k.window, pad, strokes)


def _rect(k: Kiosk, name: str) -> QRectF:
    return scene_rect(ui.wait_for_item(k.window, name))


def personal_files_hold(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
def test_the_item_commitment_is_ticked_then_signed_and_sealed(kiosk: Kiosk, outbox: Outbox, tmp_path: Path,
                                                               central: Central, syncd: Any,
                                                               central_keys: CentralKeys) -> None:
    k = kiosk
    to_review(k)
    assert ui.find_item(k.window, "commitmentText").property("text") == PROMISE_ZH  # the item's own promise
    submit = ui.find_item(k.window, "submitButton")
    assert submit.property("text") == "下一步：签名" and not submit.property("enabled")
    ui.tap_named(k.window, "commitmentBox")
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "signScreen")
    assert k.vm.screen == "sign" and k.vm.stepIndex == 4  # part of 核对提交 (no separate step)
    assert PROMISE_ZH in ui.find_item(k.window, "signCommitmentText").property("text")
    assert not ui.find_item(k.window, "signConfirmButton").property("enabled")  # nothing drawn yet

    sign(k, [[(100, 100), (104, 101), (108, 103)]])  # a tick: no signature
    assert ui.process_events_until(lambda: sign_vm(k).hasInk, 3)
    ui.tap_named(k.window, "signConfirmButton")
    assert "签名太短" in k.vm.errorText and k.vm.screen == "sign"
    ui.tap_named(k.window, "signClearButton")  # 重签
    assert not sign_vm(k).hasInk and sign_vm(k).strokes == []

    sign(k, NAME_STROKES)
    ink = sign_vm(k).ink
    assert ink.strokes == [list(s) for s in NAME_STROKES] and sig.problem(ink) == ""  # every touch point, in order
    drawn = sig.Ink(ink.width, ink.height, [list(s) for s in ink.strokes])
    expected_png = sig.render_png(drawn)
    confirm_at = _rect(k, "signConfirmButton")
    ui.tap_named(k.window, "signConfirmButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    assert not confirm_at.intersects(_rect(k, "finishButton"))  # a double tap on 确认 cannot skip the receipt

    # The central received it sealed and stores it sealed: the PNG as an attachment, byte for byte, and the
    # vectors and the promise in the (encrypted) fields.
    wait_until(lambda: central.store.count() == 1, what="the central to store the submission")
    wait_until(lambda: outbox.counts()[State.ACKED] >= 1, what="the ack")
    [record] = central.store.list_masked()
    assert record["complete"]
    full = queries.submission_full(central.store, record["id"])
    assert full is not None and full["complete"]
    fields = full["fields"]
    signed = next(f for f in fields if f["kind"] == "signature")
    assert signed["commitment"] == PROMISE_ZH
    assert sig.ink_from_vectors(signed["vectors"]) == drawn
    stored = central.store.attachment(record["id"], signed["file"])
    assert stored is not None and not stored.sealed.startswith(b"\x89PNG")  # sealed at rest
    png = open_sealed(central_keys.seal.private_raw, stored.sealed, f"{record['id']}/{signed['file']}".encode())
    assert png == expected_png == sig.render_png(sig.ink_from_vectors(signed["vectors"]))
    levels = {f["id"]: (f.get("evidence"), f.get("evidence_basis")) for f in fields if f["kind"] == "material"}
    assert levels == {"material_marriage": ("D", "declaration"), "material_photo": ("C", "photo")}
    with central.store.session() as s:
        row = s.get(Submission, record["id"])
        assert row is not None
        masked = {f["id"]: f.get("evidence") for f in listed_fields(row) if f["kind"] == "material"}
    assert masked == {"material_marriage": "D", "material_photo": "C"}  # listings show the level, no data

    # The admin's audited full view shows the signature and the evidence levels.
    page = full_view(central.store, central_keys, tmp_path / "central-keys", record["id"])
    assert '<img class="signature" src="data:image/png;base64,' + base64.b64encode(expected_png).decode() in page
    assert PROMISE_ZH in page and "D 级：申请人承诺" in page and "C 级：申请人自助拍照" in page

    # Nothing of the signature is left on the kiosk: not in memory, not on screen, not in any file in clear.
    assert k.vm.session.extra == {} and sign_vm(k).ink.strokes == []
    assert ui.find_item(k.window, "signaturePad") is None
    assert personal_files_hold(tmp_path, expected_png[-64:]) == []
    assert personal_files_hold(tmp_path, hashlib.sha256(expected_png).digest()) == []


def test_leaving_the_signing_screen_forgets_the_ink_and_asks_again(kiosk: Kiosk) -> None:
    k = kiosk
    to_review(k)
    ui.tap_named(k.window, "commitmentBox")
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "signScreen")
    sign(k, NAME_STROKES)
    assert sign_vm(k).hasInk
    ui.tap_named(k.window, "backButton")
    ui.wait_for_item(k.window, "reviewScreen")
    assert sign_vm(k).ink.strokes == [] and not k.review.committed  # the promise is asked again
    k.vm.endSession()
    assert k.vm.screen == "attract" and k.vm.session.extra == {}


def test_an_item_without_a_signature_submits_from_the_review(kiosk: Kiosk) -> None:
    k = kiosk
    to_review(k, PLAIN)
    assert ui.find_item(k.window, "commitmentText").property("text") == "本人承诺所填信息真实有效"
    assert ui.find_item(k.window, "submitButton").property("text") == "提交申请"
    ui.tap_named(k.window, "commitmentBox")
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)


# -- the central's full view -------------------------------------------------------------------------------


def full_view(store: CentralStore, keys: CentralKeys, keys_home: Path, submission_id: str) -> str:
    """An admin logs in to the dashboard and opens the audited full view of one submission."""
    if not (keys_home / KEYS_FILE).exists():
        keys.save(keys_home)
    auth.add_operator(store, "admin", "admin-secret-1", "admin", replace=True)
    app = create_app(store, keys_home, "mqtt://127.0.0.1:1", session_secret="s" * 32)
    with TestClient(app) as c:
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
        assert token
        r = c.post("/login", data={"username": "admin", "password": "admin-secret-1", "csrf": token.group(1),
                                   "next": "/"})
        token = re.search(r'name="csrf" value="([^"]+)"', r.text)
        assert token
        page = c.post(f"/submissions/{submission_id}/full", data={"csrf": token.group(1)})
        assert page.status_code == 200
    views = auth.audit_entries(store, action="submission_full_view")
    assert views, "no audited full view"
    assert (views[0]["actor"], views[0]["target"]) == ("admin", submission_id)  # the newest
    return page.text


def test_full_view_says_why_a_signature_is_not_shown(tmp_path: Path, central_keys: CentralKeys) -> None:
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    try:
        fields = [{"id": "signature", "kind": "signature", "label": "申请人签名", "value": "signed", "file": 0,
                   "commitment": PROMISE_ZH, "signed_at": 1.0, "vectors": {"width": 2, "height": 2, "strokes": []}}]
        with store.engine.begin() as conn:
            conn.execute(Submission.__table__.insert().values(
                id="s-1", device_id="k-1", seq=1, service_code=SIGNED, receipt_no="KR-1", created_at=1.0,
                received_at=2.0, fields_json=json.dumps(fields, ensure_ascii=False), attachments_expected=1,
                complete=False))
        sub = {"id": "s-1", "fields": [dict(fields[0])]}
        signature_view.open_signatures(store, tmp_path / "nokeys", sub)
        assert sub["fields"][0]["image_error"] == "missing" and not sub["fields"][0]["image"]
        not_png = seal(central_keys.seal.public_raw, b"GIF89a...", aad=b"s-1/0")
        with store.engine.begin() as conn:
            conn.execute(AttachmentFile.__table__.insert().values(submission_id="s-1", file=0, size=len(not_png),
                                                                  sha256="0" * 64, sealed=not_png))
        signature_view.open_signatures(store, tmp_path / "nokeys", sub)
        assert sub["fields"][0]["image_error"] == "no_key"
        page = full_view(store, central_keys, tmp_path / "keys", "s-1")
        assert "签名文件无法打开或已损坏" in page and "data:image/png" not in page  # sealed, but no PNG inside
    finally:
        store.close()


@pytest.mark.slow
def test_signing_screen_passes_the_layout_checks_at_each_resolution_and_text_size(kiosk: Kiosk) -> None:
    from kiosk.layout_checks import check_window
    from tests.test_layout import RESOLUTIONS, set_look

    k = kiosk
    to_review(k)
    ui.tap_named(k.window, "commitmentBox")
    ui.tap_named(k.window, "submitButton")
    ui.wait_for_item(k.window, "signScreen")
    sign(k, [[(100, 100), (104, 101), (108, 103)]])
    ui.tap_named(k.window, "signConfirmButton")  # the error line shows above the pad
    assert "签名太短" in k.vm.errorText
    for size in RESOLUTIONS:
        for elder in (False, True):
            for lang in ("zh", "en"):
                set_look(k, size, elder, lang)
                assert sign_vm(k).hasInk  # resizing scales the ink; it never drops it
                problems = check_window(k.window, elder=elder)
                assert problems == [], (size, elder, lang, problems)
