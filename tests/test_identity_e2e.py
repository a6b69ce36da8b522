"""人证核验 and 告知承诺 end to end (issue 20): through the real UI offscreen (the ID card simulator on a pty sends
the holder's photo, the simulated face camera shows the resident turning as asked), the kiosk's outbox, the sync
daemon, a real Mosquitto and a real central. Two residents who match: one for an item that keeps the face image
and asks for a signature, one for an item that keeps the result only. The central stores each result (pass, its
band) sealed; the face image only for the item that keeps it; the signature intact and sealed; the listings and the
application's page show the result in words without personal data, the admin's audited full view shows the face
image and the signature; and after the ack nothing of either face or the signature is left on the kiosk.

The face check's own paths (a stranger stopped after three tries, no card photo) are in test_face_check.py, the
signing pad's in test_signature.py; this file carries their results to the central."""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central import face_result
from central.applications import listing
from central.catalogue import Catalogue
from central.field_encryption import masked_fields
from central.keys import CentralKeys
from central.web import queries
from kiosk import automation as ui
from kiosk.catalog.model import Catalog, Category, FormField, ServiceItem
from kiosk.journey import signature as sig
from kiosk.journey.submission_vm import payload
from sync.device import DeviceConfig
from sync.outbox.models import State
from sync.outbox.store import Outbox
from sync.protocol.sealing import open_sealed
from tests.helpers import Central, wait_until
from tests.journey_kit import Kiosk, close_kiosk, fill_required, open_kiosk
from tests.test_face_check import card_in, face_vm, nothing_of_the_face_stays, turn_as_asked
from tests.test_signature import NAME_STROKES, full_view, personal_files_hold, sign, sign_vm

KEEPS_IMAGE = "GA-JZZ-001"  # 居住证申领: the face image and the signed promise go to the central
RESULT_ONLY = "GA-HJ-002"  # 户籍证明: the result only
PROMISE_ZH = "本人承诺：所填居住信息真实，如有虚假愿承担法律责任。"


def identity_catalog() -> Catalog:
    def item(code: str, name: str, **kw: Any) -> ServiceItem:
        return ServiceItem(
            code=code, name_zh=name, name_en=name, department_zh="公安", guidance_zh="带身份证。",
            pinyin="x", initials="x", category="ga", category_zh="户籍", category_en="Household",
            fields=(FormField("applicant_name", "name", "申请人姓名", "Applicant's name", True, prefill="name"),),
            face_check=True, **kw)
    return Catalog("2026.1.0", (
        item(KEEPS_IMAGE, "居住证申领", face_image=True, signature=True, commitment_zh=PROMISE_ZH,
             commitment_en="I promise my residence details are true."),
        item(RESULT_ONLY, "户籍证明")), categories=(Category("ga", "户籍", "Household", ""),))


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, catalog=identity_catalog())
    yield k
    close_kiosk(k)


def face_check_through(k: Kiosk, code: str) -> dict[str, Any]:
    """The resident (ORL subject 4, whose photo is on the card) passes the check; the form opens."""
    card_in(k, code)
    ui.wait_for_item(k.window, "faceScreen", timeout_s=10)
    turn_as_asked(k, "s4_7", "s4_10", "s4_6")
    assert ui.process_events_until(lambda: face_vm(k).state == "passed", 30), face_vm(k).promptText
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    fields, attachments = payload(k.vm.journey_session)
    [entry] = [f for f in fields if f["id"] == "face_check"]
    entry = dict(entry)
    if "file" in entry:
        entry["png"] = attachments[entry["file"]].data
    fill_required(k)
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "deliveryScreen")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    ui.tap_named(k.window, "commitmentBox")
    ui.tap_named(k.window, "submitButton")
    return entry


def to_the_next_resident(k: Kiosk) -> None:
    ui.tap_named(k.window, "finishButton")
    ui.wait_for_item(k.window, "ratingScreen")
    ui.tap_named(k.window, "skipRatingButton")
    ui.wait_for_item(k.window, "attractScreen")
    k.idcard_sim.remove_card()


def opened(central: Central, keys: CentralKeys, sub_id: str, file: int) -> bytes:
    stored = central.store.attachment(sub_id, file)
    assert stored is not None and not stored.sealed.startswith(b"\x89PNG")  # sealed at rest
    return open_sealed(keys.seal.private_raw, stored.sealed, f"{sub_id}/{file}".encode())


@pytest.mark.slow
def test_face_results_and_the_signature_reach_the_central_and_leave_the_kiosk(
        kiosk: Kiosk, outbox: Outbox, tmp_path: Path, central: Central, syncd: Any,
        central_keys: CentralKeys) -> None:
    k = kiosk
    # The first resident: 居住证, face image kept, promise signed.
    kept = face_check_through(k, KEEPS_IMAGE)
    assert kept["value"] == "pass" and kept["png"].startswith(b"\x89PNG")
    ui.wait_for_item(k.window, "signScreen")
    sign(k, NAME_STROKES)
    ink = sign_vm(k).ink
    signature_png = sig.render_png(sig.Ink(ink.width, ink.height, [list(s) for s in ink.strokes]))
    ui.tap_named(k.window, "signConfirmButton")
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    first_receipt = k.done.receiptNumber
    to_the_next_resident(k)
    nothing_of_the_face_stays(k, tmp_path, kept["png"])

    # The second resident: 户籍证明, the result only; no signature asked.
    only = face_check_through(k, RESULT_ONLY)
    assert only["value"] == "pass" and "file" not in only
    ui.wait_for_item(k.window, "doneScreen", timeout_s=15)
    second_receipt = k.done.receiptNumber
    to_the_next_resident(k)

    # Delivered: the central stored both; every outbox row is acked and its sealed body purged.
    wait_until(lambda: central.store.count() == 2, what="the central to store both submissions")
    wait_until(lambda: outbox.counts()[State.PENDING] + outbox.counts()[State.SENT] == 0, what="every row acked")
    records = {r["receipt_no"]: r for r in central.store.list_masked()}
    assert set(records) == {first_receipt, second_receipt} and all(r["complete"] for r in records.values())

    full = queries.submission_full(central.store, records[first_receipt]["id"])
    assert full is not None
    [face] = [f for f in full["fields"] if f["id"] == "face_check"]
    assert (face["value"], face["band"], face["attempts"]) == ("pass", kept["band"], 1)
    assert face["band"] in ("high", "medium") and face["distance"] == kept["distance"] < face["threshold"]
    assert opened(central, central_keys, full["id"], face["file"]) == kept["png"]  # the face image, intact
    [signed] = [f for f in full["fields"] if f["kind"] == "signature"]
    assert signed["commitment"] == PROMISE_ZH and signed["file"] != face["file"]
    assert opened(central, central_keys, full["id"], signed["file"]) == signature_png  # the signature, intact

    full = queries.submission_full(central.store, records[second_receipt]["id"])
    assert full is not None and records[second_receipt]["attachments"] == 0  # no face image for this item
    [face] = [f for f in full["fields"] if f["id"] == "face_check"]
    assert (face["value"], face["band"]) == ("pass", only["band"]) and "file" not in face
    assert central.store.attachment(full["id"], 0) is None
    assert not [f for f in full["fields"] if f["kind"] == "signature"]

    # Listings show the result (no personal data), never the score or the image; the application's page says it
    # in words, for the staff who take the application on.
    [listed] = [f for f in records[first_receipt]["fields"] if f["id"] == "face_check"]
    assert listed == {"id": "face_check", "label": "人证核验", "value": "pass"}
    for lang, expected in (("zh", "通过（相似度" + {"high": "高", "medium": "中"}[kept["band"]] + "）"),
                           ("en", f"Passed (similarity {kept['band']})")):
        app = listing.application_detail(central.store, Catalogue({}), records[first_receipt]["id"], lang=lang,
                                         now=time.time())
        assert app is not None
        assert [f["value"] for f in app["fields"] if f["label"] == "人证核验"] == [expected]

    # The admin's audited full view: the result in words, the face image and the signature.
    page = full_view(central.store, central_keys, tmp_path / "central-keys", records[first_receipt]["id"])
    assert 'id="face-result">通过（相似度' in page and ">pass<" not in page
    assert '<img class="face" src="data:image/png;base64,' + base64.b64encode(kept["png"]).decode() in page
    assert '<img class="signature" src="data:image/png;base64,' + base64.b64encode(signature_png).decode() in page
    page = full_view(central.store, central_keys, tmp_path / "central-keys", records[second_receipt]["id"])
    assert 'id="face-result">通过（相似度' in page and 'class="face"' not in page

    # Nothing of the faces or the signature is left on the kiosk: not in the session, not on screen, not in
    # the outbox (acked rows keep no body), not in any file in clear.
    nothing_of_the_face_stays(k, tmp_path, kept["png"])
    assert k.vm.session.extra == {} and sign_vm(k).ink.strokes == []
    assert ui.find_item(k.window, "signaturePad") is None
    with sqlite3.connect(f"file:{outbox.path}?mode=ro", uri=True) as db:
        rows = db.execute("select kind, state, body is null from outbox where kind in ('submission', 'attachment')")
        kinds = [(kind, state, purged) for kind, state, purged in rows]
    assert sorted(kind for kind, _, _ in kinds).count("submission") == 2 and len(kinds) >= 4  # + the two files
    assert all(state == State.ACKED and purged for _, state, purged in kinds), kinds
    kiosk_home = outbox.path.parent
    for png in (kept["png"], signature_png):
        assert personal_files_hold(kiosk_home, png[-64:]) == []
        assert personal_files_hold(tmp_path / "hw", png[-64:]) == []



def test_each_result_in_words_and_in_listings() -> None:
    """What the staff read for each result the kiosk seals (zh and en); a value the kiosk never sends is masked."""
    fail = {"id": "face_check", "kind": "face_check", "label": "人证核验", "value": "fail", "band": "low",
            "reason": "mismatch", "attempts": 3, "distance": 0.71, "threshold": 0.5, "file": 0}
    assert face_result.words(fail, "zh") == "未通过（相似度低；人脸与身份证照片不一致）：请在窗口核验申请人身份"
    assert face_result.words(fail, "en") == ("Not passed (similarity low; the face does not match the ID card's "
                                             "photo): check the applicant's identity at the counter")
    not_done = {"kind": "face_check", "value": "not_done", "band": "none", "reason": "no_card_photo"}
    assert face_result.words(not_done, "zh_CN") == "未进行（身份证照片无法读取）：请在窗口核验申请人身份"
    assert face_result.words({"kind": "face_check", "value": "张三"}, "zh") == "****"
    [listed] = masked_fields([fail])
    assert listed == {"id": "face_check", "label": "人证核验", "kind": "face_check", "value": "fail", "band": "low",
                      "reason": "mismatch"}  # no distance, no file
    [odd] = masked_fields([{**fail, "value": "张三", "band": "李四", "reason": "王五"}])
    assert odd == {"id": "face_check", "label": "人证核验", "kind": "face_check", "value": "**"}
