"""A material takes only the e-licences it lists (kiosk.catalog.licence_types), and every e-licence the
shipped catalogue names can be scanned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sync
from kiosk.catalog import load_catalog
from kiosk.catalog.licence_types import ID_CARD_TYPES, LICENCE_TYPES, accepts, licence_name, wanted_names


def test_a_material_takes_the_codes_it_lists_by_name_or_by_code() -> None:
    assert accepts(("居民户口簿",), "hukou") and accepts(("居民户口簿",), "HKB")
    assert accepts(("hukou",), "hukou")  # a catalogue may list the type code itself
    assert not accepts(("居民户口簿",), "idcard")
    assert accepts(("居民身份证", "社会保障卡"), "sbk") and accepts(("居民身份证", "社会保障卡"), "sfz")
    assert not accepts(("居民户口簿",), "x-unknown") and not accepts((), "hukou")
    assert not accepts(("",), "x-unknown")  # an unknown code never matches an empty name


def test_names_are_said_in_the_residents_language() -> None:
    assert licence_name("idcard") == "居民身份证" and licence_name("idcard", "en") == "resident ID card"
    assert licence_name("x-unknown") == ""
    assert wanted_names(("居民身份证", "社会保障卡"), "zh") == "居民身份证、社会保障卡"
    assert wanted_names(("居民身份证", "社会保障卡"), "en") == "resident ID card or social security card"
    assert wanted_names(("hukou",), "zh") == "居民户口簿" and wanted_names(("未知证照",), "en") == "未知证照"
    assert {"idcard", "sfz", "jmsfz", "resident_id"} == ID_CARD_TYPES


def test_every_e_licence_the_schema_allows_has_a_type_code() -> None:
    known = {zh for zh, _en in LICENCE_TYPES.values()}
    schema = json.loads((Path(sync.__file__).parent / "protocol" / "catalog_schema.json").read_text("utf-8"))
    allowed = set(schema["$defs"]["elicence"]["enum"])
    named = {e for item in load_catalog().items for m in item.materials for e in m.elicence}
    assert named and named <= allowed, "the shipped catalogue names e-licences the schema allows"
    assert allowed == known, f"no type code for {sorted(allowed - known)}; not in the schema: {sorted(known - allowed)}"


@pytest.mark.parametrize("code", sorted(LICENCE_TYPES))
def test_type_codes_fit_the_payload_rules(code: str) -> None:
    from drivers.codes.payloads import ELicenceRef, parse_payload
    ref = parse_payload(f"ezz://licence?type={code}&id=X1&issuer=110000&ts=1795800000")
    assert isinstance(ref, ELicenceRef) and ref.type == code
