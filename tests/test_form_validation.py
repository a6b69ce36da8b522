"""The one form validator (issue 14 findings 3 and 12) and the form's honest feedback (finding 8).

Problem codes with texts from i18n in both languages; the catalogue's rules run in every language (before,
an English form skipped them and sealed a bank account its pattern refused); ID numbers are typed on a
0–9 + X pad, normalised, explained (length, check character, birth date, region), and shown in full on
the review screen when typed by hand; errors go as soon as the field is right; a hint never offers the
item being applied for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers import idnumber
from drivers.idcard.simulator import SAMPLE_RECORD
from kiosk import automation as ui
from kiosk.catalog.model import Catalog, FormField
from kiosk.journey import validation
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.journey_kit import JZZ, LNYD, Kiosk, close_kiosk, go_to_item, journey_catalog, open_kiosk

GOOD_ID = "11010519491231002X"
ID_FIELD = FormField("id_number", "id_number", "身份证号", "ID number", True)


def with_check(first17: str) -> str:
    return first17 + idnumber.check_char(first17)


@pytest.mark.parametrize(("typed", "code", "zh", "en"), [
    ("11010519491231002", "id_length", "应为 18 位，现在是 17 位", "must have 18 characters; it has 17"),
    ("110105194912310021", "id_check_char", "最后一位（校验位）不对", "check character"),
    (with_check("11010519491331002"), "id_birth_date", "出生日期", "birth date"),
    (with_check("99010519491231002"), "id_region", "地区代码", "region code"),
    ("1101051949123100X2", "id_charset", "只能是数字", "must be digits"),
])
def test_each_id_number_mistake_says_what_is_wrong(typed: str, code: str, zh: str, en: str) -> None:
    problem = validation.check(ID_FIELD, typed)
    assert problem is not None and problem.code == code
    assert zh in validation.problem_text(problem, "zh")
    assert en in validation.problem_text(problem, "en")
    texts = {validation.problem_text(validation.check(ID_FIELD, t), "zh")
             for t in ("11010519491231002", "110105194912310021")}
    assert len(texts) == 2  # 17 digits and a wrong check character no longer read the same


def test_id_numbers_are_normalised_and_the_pad_takes_digits_and_x_only() -> None:
    assert validation.normalise_id("１１０１０５ １９４９１２３１ ００２ｘ") == GOOD_ID
    assert validation.check(ID_FIELD, "１１０１０５ １９４９１２３１ ００２ｘ") is None
    assert validation.id_pad_filter("1101下05abc") == "110105"  # Pinyin's 下 for X, letters: dropped
    assert validation.id_pad_filter("11010519491231002x") == GOOD_ID
    assert validation.id_pad_filter(GOOD_ID + "99") == GOOD_ID  # 18 at most


def test_the_catalogues_rules_run_in_every_language() -> None:
    bank = FormField("bank_account", "text", "银行账号", "Bank account", True, pattern=r"\d{16,19}", max_length=19)
    for lang in ("zh", "en"):
        assert validation.check_text(bank, "abc", lang), lang
        assert validation.check_text(bank, "6222" * 5, lang), lang  # 20 digits: too long
        assert validation.check_text(bank, "6222020200112233", lang) == "", lang
    assert "Bank account" in validation.check_text(bank, "abc", "en")


def bank_catalog() -> Catalog:
    base = journey_catalog()
    lnyd = base.item(LNYD)
    bank = FormField("bank_account", "text", "银行账号", "Bank account", True, pattern=r"\d{16,19}")
    item = dataclasses.replace(lnyd, fields=(*lnyd.fields, bank))
    return dataclasses.replace(base, items=(base.item(JZZ), item))


@pytest.fixture
def kiosk(qapp: Any, tmp_path: Path, outbox: Outbox, device: DeviceConfig) -> Iterator[Kiosk]:
    k = open_kiosk(tmp_path, outbox, device, catalog=bank_catalog())
    yield k
    close_kiosk(k)


def test_an_english_form_refuses_what_the_catalogue_refuses(kiosk: Kiosk, outbox: Outbox) -> None:
    k = kiosk
    ui.tap_named(k.window, "languageButton")
    assert k.vm.language == "en"
    go_to_item(k, LNYD)
    ui.tap_named(k.window, "manualButton")
    ui.enter_text(k.window, "nameField", "Zhou Jiu")
    ui.enter_text(k.window, "field_bank_account", "not-a-number")
    ui.tap_named(k.window, "formNextButton")
    error = ui.wait_for_item(k.window, "error_bank_account").property("text")
    assert "Bank account" in error and "format" in error
    assert k.vm.screen == "form" and outbox.counts()["pending"] == 0  # never sealed and sent
    # Fixed: the error goes at once, before 下一步 is tapped again.
    ui.enter_text(k.window, "field_bank_account", "6222020200112233")
    assert ui.process_events_until(lambda: ui.find_item(k.window, "error_bank_account") is None, 2)
    assert k.vm.errorText == ""


def test_the_id_number_pad_types_digits_and_x_only_and_review_shows_it_in_full(kiosk: Kiosk) -> None:
    k = kiosk
    go_to_item(k, JZZ)
    ui.tap_named(k.window, "manualButton")
    field = ui.wait_for_item(k.window, "field_id_number")
    ui.tap(k.window, field)
    ui.wait_for_item(k.window, "idPad_id_number")
    panel = ui.find_item(k.window, "inputPanel")
    assert panel is None or not panel.property("active")  # the Pinyin keyboard stays closed
    for ch in GOOD_ID[:-2] + "0":
        ui.tap_named(k.window, f"idPadKey_{ch}")
    ui.tap_named(k.window, "idPadDelete")
    for ch in "2X":
        ui.tap_named(k.window, f"idPadKey_{ch}")
    assert field.property("text") == GOOD_ID
    assert ui.wait_for_item(k.window, "counter_id_number").property("text") == "已达到最多 18 个字"
    field.setProperty("text", "1101下05")  # whatever else reaches the field (a paste, an input method)
    assert ui.process_events_until(lambda: field.property("text") == "110105", 2), field.property("text")
    field.setProperty("text", "１１０１０５ １９４９１２３１ ００２ｘ")
    assert ui.process_events_until(lambda: field.property("text") == GOOD_ID, 2), field.property("text")
    ui.tap_named(k.window, "idPadDone")
    assert ui.find_item(k.window, "idPad_id_number") is None
    for name, text in (("nameField", "周九"), ("field_birth_date", "1949-12-31"), ("field_address", "北京市"),
                       ("field_phone", "13800138000"), ("field_bank_account", "")):
        if text and ui.find_item(k.window, name) is not None:
            ui.enter_text(k.window, name, text)
    ui.tap_named(k.window, "field_sex_option_女")
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    ui.tap_named(k.window, "missing_0")
    k.materials.captureMaterial(1)
    ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "captured", 10)
    ui.tap_named(k.window, "materialsNextButton")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    review = {r["label"]: r["value"] for r in k.review.review.rows}
    assert review["身份证号"] == GOOD_ID  # typed by hand: in full, to be checked


def test_a_card_read_number_stays_masked_on_review(kiosk: Kiosk) -> None:
    k = kiosk
    go_to_item(k, JZZ)
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    assert ui.find_item(k.window, "idPad_id_number") is None  # locked: no pad
    ui.enter_text(k.window, "field_phone", "13800138000")
    ui.tap_named(k.window, "formNextButton")
    ui.wait_for_item(k.window, "materialsScreen")
    ui.tap_named(k.window, "missing_0")
    k.materials.captureMaterial(1)
    ui.process_events_until(lambda: k.materials.materials.rows[1]["mstate"] == "captured", 10)
    ui.tap_named(k.window, "materialsNextButton")
    ui.tap_named(k.window, "deliveryNextButton")
    ui.wait_for_item(k.window, "reviewScreen")
    review = {r["label"]: r["value"] for r in k.review.review.rows}
    assert review["身份证号"] == "110105********002X"


def test_hints_never_offer_the_item_being_applied_for(kiosk: Kiosk) -> None:
    k = kiosk
    go_to_item(k, LNYD)  # 老年人优待证, by a resident born in 1949
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    assert not any("老年人优待证" in h for h in k.form.hints)
    k.vm.endSession()
    k.idcard_sim.remove_card()
    go_to_item(k, JZZ)  # another item: the senior card is a fair hint
    k.idcard_sim.place_card(SAMPLE_RECORD)
    ui.wait_for_item(k.window, "formScreen", timeout_s=10)
    assert any("老年人优待证" in h for h in k.form.hints)
