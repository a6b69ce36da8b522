"""The service catalogue: schema, shipped content, pinyin, search, hints, signed updates."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.catalog import authoring
from kiosk.catalog.model import (
    DEFAULT_CATALOG,
    FIELD_KINDS,
    Catalog,
    CatalogError,
    catalog_from_document,
    eligibility_hints,
    load_catalog,
    schema,
    version_key,
)
from kiosk.catalog.update import (
    INSTALLED_NAME,
    canonical_json,
    install_update,
    installed_catalog,
    load_installed,
    sign_update,
    verify_update,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def default_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    return doc


_DEFAULT_DOC = default_doc()


def small_doc(version: str = "2026.12.0", n: int = 3) -> dict[str, Any]:
    """The default's first ``n`` items (validating the whole default takes a while on a slow machine)."""
    doc = copy.deepcopy(_DEFAULT_DOC)
    doc["items"] = doc["items"][:n]
    codes = {it["code"] for it in doc["items"]}
    doc["eligibility"] = [r for r in doc["eligibility"] if r["item"] in codes]
    doc["version"] = version
    return doc


def keypair() -> tuple[bytes, bytes]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, public


PRIVATE, PUBLIC = keypair()


# --- schema and validation -----------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def test_default_catalogue_validates(catalog: Catalog) -> None:
    jsonschema.Draft202012Validator(schema()).validate(_DEFAULT_DOC)
    assert catalog.version == _DEFAULT_DOC["version"]
    version_key(catalog.version)


def _mutate(fn: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = small_doc()
    fn(doc)
    return doc


def _dup_code(d: dict[str, Any]) -> None:
    d["items"][1]["code"] = d["items"][0]["code"]


BAD_DOCUMENTS: list[tuple[str, Callable[[dict[str, Any]], object], list[str]]] = [
    ("missing version", lambda d: d.pop("version"), ["'version' is a required property"]),
    ("bad version", lambda d: d.update(version="v2"), ["at version", "'v2'"]),
    ("item without fields", lambda d: d["items"][1].pop("fields"),
     ["item MZ-GNBZ-002 at items[1]", "'fields' is a required property"]),
    ("unknown field kind", lambda d: d["items"][0]["fields"][2].update(kind="signature"),
     ["item MZ-LNYD-001 at items[0].fields[2].kind", "'signature' is not one of"]),
    ("unknown key", lambda d: d["items"][2].update(colour="red"),
     ["item RS-SYDJ-003 at items[2]", "'colour' was unexpected"]),
    ("duplicate item codes", _dup_code, ["duplicate item code 'MZ-LNYD-001'"]),
    ("choice without options", lambda d: d["items"][2]["fields"][5].pop("options"),
     ["item RS-SYDJ-003 at items[2].fields[5]", "'options' is a required property"]),
    ("options on a text field", lambda d: d["items"][0]["fields"][0].update(
        options=[{"value": "a", "label": {"zh": "甲", "en": "A"}}]),
     ["items[0].fields[0].options", "only choice fields have options"]),
    ("duplicate field ids", lambda d: d["items"][0]["fields"][1].update(id="applicant_name"),
     ["item MZ-LNYD-001", "duplicate field id 'applicant_name'"]),
    ("unknown category", lambda d: d["items"][1].update(category="pets"),
     ["item MZ-GNBZ-002 at items[1].category", "unknown category 'pets'"]),
    ("prefill into the wrong kind", lambda d: d["items"][0]["fields"][2].update(prefill="birth_date"),
     ["items[0].fields[2].prefill", "'birth_date' cannot fill a 'phone' field"]),
    ("bad regular expression", lambda d: d["items"][0]["fields"][2].update(pattern="[0-9"),
     ["items[0].fields[2].pattern", "not a regular expression"]),
    ("stale initials", lambda d: d["items"][0].update(initials="xyz"),
     ["item MZ-LNYD-001 at items[0].pinyin", "initials 'xyz' do not match"]),
    ("pinyin for another name", lambda d: d["items"][0].update(pinyin="ju zhu zheng", initials="jzz"),
     ["items[0].pinyin", "3 syllables for 8 Chinese characters"]),
    ("unknown e-licence", lambda d: d["items"][0]["guidance"]["materials"][0].update(elicence=["身份证"]),
     ["items[0].guidance.materials[0].elicence[0]", "'身份证' is not one of"]),
    ("hint for a missing item", lambda d: d["eligibility"][0].update(item="XX-NONE-999"),
     ["eligibility[0].item", "unknown item 'XX-NONE-999'"]),
    ("unknown condition", lambda d: d["eligibility"][0]["if"].update(income_lt=1000),
     ["eligibility[0].if", "'income_lt' was unexpected"]),
    ("negative fee", lambda d: d["items"][0]["guidance"].update(fee_yuan=-1),
     ["items[0].guidance.fee_yuan", "less than the minimum"]),
    ("unknown delivery", lambda d: d["items"][0]["guidance"].update(delivery=["drone"]),
     ["items[0].guidance.delivery[0]", "'drone' is not one of"]),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in BAD_DOCUMENTS],
                         ids=[name for name, _, _ in BAD_DOCUMENTS])
def test_bad_documents_are_refused_with_a_clear_message(
        mutate: Callable[[dict[str, Any]], object], expected: list[str]) -> None:
    with pytest.raises(CatalogError) as err:
        catalog_from_document(_mutate(mutate), "test catalogue")
    message = str(err.value)
    assert message.startswith("test catalogue is invalid: ")
    for part in expected:
        assert part in message
    assert err.value.problems


def test_many_problems_are_counted_not_all_shown() -> None:
    doc = small_doc()
    for it in doc["items"]:
        for f in it["fields"]:
            f["kind"] = "bogus"
    with pytest.raises(CatalogError) as err:
        catalog_from_document(doc)
    assert len(err.value.problems) > 5
    assert f"(and {len(err.value.problems) - 5} more)" in str(err.value)


def test_load_catalog_reports_unreadable_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": ', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"broken\.json is not valid JSON"):
        load_catalog(broken)
    dup = tmp_path / "dup.json"
    dup.write_text('{"version": "1.0", "version": "2.0"}', encoding="utf-8")
    with pytest.raises(CatalogError, match="duplicate key 'version'"):
        load_catalog(dup)


def test_a_small_valid_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small_doc(), ensure_ascii=False), encoding="utf-8")
    cat = load_catalog(path)
    assert [it.code for it in cat.items] == ["MZ-LNYD-001", "MZ-GNBZ-002", "RS-SYDJ-003"]


# --- shipped content -----------------------------------------------------------------------------


def test_default_catalogue_content(catalog: Catalog) -> None:
    assert len(catalog.items) >= 12
    assert len({it.department_zh for it in catalog.items}) >= 5
    assert len({it.category for it in catalog.items}) >= 6
    for c in catalog.categories:
        assert catalog.by_category(c.code), f"category {c.code} has no items"
        assert c.icon and c.name_zh and c.name_en
    assert len({it.code for it in catalog.items}) == len(catalog.items)


def test_first_item_is_the_senior_card_with_the_applicant_name_first(catalog: Catalog) -> None:
    first = catalog.items[0]
    assert first.code == "MZ-LNYD-001"
    assert first.name_zh == "老年人优待证申领"
    assert (first.fields[0].id, first.fields[0].kind, first.fields[0].required) == ("applicant_name", "name", True)
    assert first.fields[0].prefill == "name"
    assert first.department_zh and first.guidance_zh and first.fields[0].label_zh and first.fields[0].label_en


def test_expected_services_are_there(catalog: Catalog) -> None:
    names = " ".join(it.name_zh for it in catalog.items)
    for word in ("居住证", "参保证明", "异地就医备案", "公积金转移", "老年人优待证", "出生登记", "灵活就业", "残疾人"):
        assert word in names


def test_forms_materials_and_guidance_use_the_whole_format(catalog: Catalog) -> None:
    fields = [f for it in catalog.items for f in it.fields]
    assert {f.kind for f in fields} == set(FIELD_KINDS)
    assert {f.prefill for f in fields} >= {"name", "id_number", "sex", "address", "nation"}
    for f in fields:
        if f.kind == "choice":
            assert f.options and all(o.value and o.label_zh and o.label_en for o in f.options)
        if f.kind == "phone":
            assert f.pattern and f.max_length == 11
    materials = [m for it in catalog.items for m in it.materials]
    assert any(m.rongque for m in materials) and any(not m.required for m in materials)
    assert {"居民户口簿", "结婚证", "出生医学证明"} <= {e for m in materials for e in m.elicence}
    assert any(it.cross_province for it in catalog.items)
    assert any(it.fee_yuan > 0 for it in catalog.items)
    assert any("post" in it.delivery for it in catalog.items)
    assert all(it.time_limit_days >= 0 and it.delivery for it in catalog.items)
    permit = catalog.item("GA-JZZ-009")
    assert permit.fee_zh == "20元" and permit.time_limit_zh == "15个工作日"
    assert catalog.item("RS-CBZM-010").time_limit_zh.startswith("即办")


def test_field_value_problems(catalog: Catalog) -> None:
    senior = catalog.item("MZ-LNYD-001")
    phone = senior.field("phone")
    assert phone.value_problem("13800138000") == ""
    assert "格式" in phone.value_problem("12345")
    assert senior.field("applicant_name").value_problem("  ") == "请填写申请人姓名"
    assert senior.field("id_number").value_problem("110101195001011230") != ""
    choice = catalog.item("RS-SYDJ-003").field("leave_reason")
    assert choice.value_problem("resigned") == ""
    assert choice.value_problem("fired") != ""
    assert catalog.item("RS-SYDJ-003").field("leave_date").value_problem("2026-02-30x") != ""
    with pytest.raises(CatalogError, match="no field"):
        senior.field("nope")


# --- pinyin ---------------------------------------------------------------------------------------


def test_stored_pinyin_and_initials_match_pypinyin() -> None:
    pytest.importorskip("pypinyin")
    assert authoring.pinyin_of("居住证") == "ju zhu zheng"
    assert authoring.pinyin_of("女") == "nv"
    for it in _DEFAULT_DOC["items"]:
        assert it["pinyin"] == authoring.pinyin_of(it["name"]["zh"]), it["code"]
        assert it["initials"] == authoring.initials_of(it["pinyin"]), it["code"]
        for kw in it.get("keywords", ()):
            assert kw["pinyin"] == authoring.pinyin_of(kw["zh"]), (it["code"], kw["zh"])
            assert kw["initials"] == authoring.initials_of(kw["pinyin"]), (it["code"], kw["zh"])


def test_shipped_file_is_tidy() -> None:
    """The file is as ``python -m kiosk.catalog.authoring fill`` leaves it."""
    pytest.importorskip("pypinyin")
    assert authoring.main(["check"]) == 0


def test_authoring_fill_rewrites_a_stale_file(tmp_path: Path) -> None:
    pytest.importorskip("pypinyin")
    doc = small_doc()
    doc["items"][0]["pinyin"], doc["items"][0]["initials"] = "x", "x"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=4), encoding="utf-8")
    assert authoring.main(["check", str(path)]) == 1
    assert authoring.main(["fill", str(path)]) == 0
    assert authoring.main(["check", str(path)]) == 0
    assert load_catalog(path).items[0].initials == "lnrydzsl"


# --- search ---------------------------------------------------------------------------------------


def names(items: list[Any]) -> list[str]:
    return [it.name_zh for it in items]


@pytest.mark.parametrize("query", ["jzz", "JZZ", "居住证", "juzhuzheng", "ju zhu zheng", "Ju Zhu Zheng"])
def test_residence_permit_items_come_first(catalog: Catalog, query: str) -> None:
    found = catalog.search(query)
    assert [it.code for it in found[:3]] == ["GA-JZZ-007", "GA-JZZ-008", "GA-JZZ-009"]


def test_partial_chinese_and_pinyin(catalog: Catalog) -> None:
    assert names(catalog.search("居住"))[:3] == ["居住证申领", "居住证签注", "居住证换领补领"]
    assert "居住证明开具" in names(catalog.search("居住"))
    assert names(catalog.search("签注")) == ["居住证签注"]
    assert names(catalog.search("qianzhu")) == ["居住证签注"]
    assert names(catalog.search("jzzqz")) == ["居住证签注"]
    assert names(catalog.search("lnrydz")) == ["老年人优待证申领"]
    assert names(catalog.search("laonianren"))[0] == "老年人优待证申领"


def test_keywords_find_the_words_residents_use(catalog: Catalog) -> None:
    assert names(catalog.search("社保"))[0] == "社会保险个人参保证明打印"
    assert names(catalog.search("shebao"))[0] == "社会保险个人参保证明打印"
    yibao = ["城乡居民医保参保登记", "跨省异地就医备案"]
    assert names(catalog.search("医保"))[:2] == yibao
    assert names(catalog.search("yibao"))[:2] == yibao
    assert names(catalog.search("yb"))[:2] == yibao
    assert names(catalog.search("老年证")) == ["老年人优待证申领"]
    assert names(catalog.search("上户口")) == ["新生儿出生登记"]
    assert names(catalog.search("暂住证")) == ["居住证申领"]


def test_department_and_category_search(catalog: Catalog) -> None:
    assert set(names(catalog.search("派出所"))) == {"居住证申领", "居住证签注", "居住证换领补领", "新生儿出生登记"}
    assert set(names(catalog.search("民政"))) == {"老年人优待证申领", "高龄津贴申请"}
    assert {it.code for it in catalog.search("残联")} | {it.code for it in catalog.search("残疾人")} >= {
        "CL-CJZ-006", "CL-LXBT-017"}
    assert {it.code for it in catalog.search("生育")} >= {"GA-CSDJ-014", "WJ-SYDJ-015"}


def test_name_matches_rank_above_department_matches(catalog: Catalog) -> None:
    found = catalog.search("公积金")
    assert names(found) == ["住房公积金转移接续", "租房提取住房公积金"]
    found = catalog.search("残疾人")
    assert found[0].name_zh.startswith("残疾人")


def test_code_and_english_search(catalog: Catalog) -> None:
    assert names(catalog.search("MZ-LNYD-001")) == ["老年人优待证申领"]
    assert names(catalog.search("mz-lnyd-001")) == ["老年人优待证申领"]
    assert "居住证申领" in names(catalog.search("residence permit"))
    assert "跨省异地就医备案" in names(catalog.search("Another Province"))


def test_empty_and_unmatched_queries_find_nothing(catalog: Catalog) -> None:
    assert catalog.search("") == []
    assert catalog.search("   ") == []
    assert catalog.search("火星护照") == []
    assert catalog.search("qqqq") == []


def test_full_width_and_u_umlaut_are_normalised(catalog: Catalog) -> None:
    assert names(catalog.search("ｊｚｚ"))[0] == "居住证申领"
    assert catalog.search("nü") == catalog.search("nv")


def test_by_category_and_lookups(catalog: Catalog) -> None:
    identity = catalog.by_category("identity")
    assert {it.code for it in identity} == {"GA-JZZ-007", "GA-JZZ-008", "GA-JZZ-009", "JS-ZSZM-005"}
    assert all(it.category_zh == "户籍证件" for it in identity)
    assert catalog.by_category("nope") == []
    assert catalog.category("elderly").name_zh == "养老服务"
    with pytest.raises(CatalogError):
        catalog.item("XX-NONE-000")
    with pytest.raises(CatalogError):
        catalog.category("nope")


# --- eligibility hints ---------------------------------------------------------------------------


def test_senior_gets_the_senior_card_hint(catalog: Catalog) -> None:
    hints = eligibility_hints(catalog, 65, "女", "110101")
    assert [h.item.code for h in hints] == ["MZ-LNYD-001"]
    item, hint_zh = hints[0]
    assert item.code == "MZ-LNYD-001" and "60周岁" in hint_zh
    assert hints[0] == (item, hint_zh)
    assert hints[0].text_zh == hint_zh and "60" in hints[0].text_en


def test_no_hint_for_a_thirty_year_old_local(catalog: Catalog) -> None:
    assert eligibility_hints(catalog, 30, "男", "110105") == []


def test_age_and_region_rules(catalog: Catalog) -> None:
    assert [h.item.code for h in eligibility_hints(catalog, 85, "男", "110101")] == ["MZ-LNYD-001", "MZ-GNBZ-002"]
    assert [h.item.code for h in eligibility_hints(catalog, 85, "男", "440305")] == ["MZ-LNYD-001", "GA-JZZ-007"]
    assert [h.item.code for h in eligibility_hints(catalog, 30, "男", "440305")] == ["GA-JZZ-007"]
    assert eligibility_hints(catalog, 12, "男", "440305") == []


def test_unknown_facts_never_make_a_rule_fire(catalog: Catalog) -> None:
    assert eligibility_hints(catalog, None, "", "") == []
    # "not born here" must not fire when the region is unknown
    assert [h.item.code for h in eligibility_hints(catalog, 30, "男", "")] == []
    assert [h.item.code for h in eligibility_hints(catalog, 70, "", "")] == ["MZ-LNYD-001"]


def test_rule_language_combinators() -> None:
    doc = small_doc()
    doc["eligibility"] = [
        {"if": {"any": [{"sex": "女", "age_gte": 50}, {"sex": "男", "age_gte": 60}]}, "item": "RS-SYDJ-003",
         "hint_zh": "甲", "hint_en": "A"},
        {"if": {"all": [{"age_gte": 18}, {"age_lt": 20}], "not": {"region_prefix": ["31", "4403"]}},
         "item": "MZ-GNBZ-002", "hint_zh": "乙", "hint_en": "B"},
    ]
    cat = catalog_from_document(doc)
    assert [h.hint_zh for h in eligibility_hints(cat, 55, "女", "110101")] == ["甲"]
    assert eligibility_hints(cat, 55, "男", "110101") == []
    assert [h.hint_zh for h in eligibility_hints(cat, 19, "男", "110101")] == ["乙"]
    assert eligibility_hints(cat, 19, "男", "440305") == []
    assert eligibility_hints(cat, 19, "男", "310101") == []
    assert eligibility_hints(cat, 20, "男", "110101") == []


def test_rules_cannot_nest_without_limit() -> None:
    cond: dict[str, Any] = {"age_gte": 1}
    for _ in range(5):
        cond = {"not": cond}
    doc = small_doc()
    doc["eligibility"] = [{"if": cond, "item": "RS-SYDJ-003", "hint_zh": "甲", "hint_en": "A"}]
    with pytest.raises(CatalogError, match="nest deeper"):
        catalog_from_document(doc)


# --- signed updates -------------------------------------------------------------------------------


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": "居"}) == '{"a":"居","b":1}'.encode()


def test_valid_update_installs_and_loads(tmp_path: Path) -> None:
    data = sign_update(PRIVATE, small_doc("2026.12.0"))
    cat = verify_update(PUBLIC, data)
    assert cat.version == "2026.12.0" and len(cat.items) == 3
    assert load_installed(tmp_path).version == load_catalog().version  # nothing installed yet
    installed = install_update(tmp_path, data, PUBLIC)
    assert installed.version == "2026.12.0"
    assert (tmp_path / INSTALLED_NAME).read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == [INSTALLED_NAME]  # no temporary file left
    assert load_installed(tmp_path).version == "2026.12.0"
    status = installed_catalog(tmp_path, PUBLIC)
    assert (status.source, status.problem, status.catalog.version) == ("installed", "", "2026.12.0")
    newer = sign_update(PRIVATE, small_doc("2027.1.0"))
    assert install_update(tmp_path, newer, PUBLIC).version == "2027.1.0"
    assert load_installed(tmp_path, PUBLIC).version == "2027.1.0"


def test_tampered_catalogue_is_refused(tmp_path: Path) -> None:
    doc = json.loads(sign_update(PRIVATE, small_doc()))
    doc["catalog"]["items"][0]["guidance"]["fee_yuan"] = 100
    with pytest.raises(CatalogError, match="signature does not verify"):
        install_update(tmp_path, json.dumps(doc).encode(), PUBLIC)
    assert not (tmp_path / INSTALLED_NAME).exists()


def test_tampered_or_foreign_signature_is_refused() -> None:
    doc = json.loads(sign_update(PRIVATE, small_doc()))
    sig = bytearray(base64.b64decode(doc["sig"]))
    sig[0] ^= 1
    doc["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(CatalogError, match="signature does not verify"):
        verify_update(PUBLIC, json.dumps(doc).encode())
    other_private, _ = keypair()
    with pytest.raises(CatalogError, match="signature does not verify"):
        verify_update(PUBLIC, sign_update(other_private, small_doc()))
    doc["sig"] = "not base64!"
    with pytest.raises(CatalogError, match="not valid base64"):
        verify_update(PUBLIC, json.dumps(doc).encode())
    doc["sig"] = base64.b64encode(b"short").decode()
    with pytest.raises(CatalogError, match="expected 64"):
        verify_update(PUBLIC, json.dumps(doc).encode())


def test_unsigned_update_is_refused(tmp_path: Path) -> None:
    bare = json.dumps(small_doc(), ensure_ascii=False).encode()
    with pytest.raises(CatalogError, match="not signed"):
        install_update(tmp_path, bare, PUBLIC)
    with pytest.raises(CatalogError, match="not signed"):
        verify_update(PUBLIC, json.dumps({"catalog": small_doc()}).encode())
    with pytest.raises(CatalogError, match="exactly 'catalog' and 'sig'"):
        verify_update(PUBLIC, json.dumps({"catalog": small_doc(), "sig": "", "key": "x"}).encode())
    assert not (tmp_path / INSTALLED_NAME).exists()


def test_older_or_same_version_is_refused(tmp_path: Path) -> None:
    shipped = load_catalog().version
    with pytest.raises(CatalogError, match="not newer than the installed"):
        verify_update(PUBLIC, sign_update(PRIVATE, small_doc(shipped)))
    with pytest.raises(CatalogError, match="not newer"):
        verify_update(PUBLIC, sign_update(PRIVATE, small_doc("2026.2.0")))  # 2 < 11 numerically
    install_update(tmp_path, sign_update(PRIVATE, small_doc("2026.12.0")), PUBLIC)
    replay = sign_update(PRIVATE, small_doc("2026.11.5"))
    with pytest.raises(CatalogError, match=r"2026\.11\.5 is not newer than the installed 2026\.12\.0"):
        install_update(tmp_path, replay, PUBLIC)
    assert load_installed(tmp_path).version == "2026.12.0"


def test_signed_but_invalid_catalogue_is_refused() -> None:
    doc = small_doc()
    doc["items"][0]["fields"][0]["kind"] = "fingerprint"
    with pytest.raises(CatalogError, match="MZ-LNYD-001"):
        sign_update(PRIVATE, doc)  # the central refuses to sign it
    with pytest.raises(CatalogError, match=r"items\[0\]\.fields\[0\]\.kind"):
        verify_update(PUBLIC, sign_update(PRIVATE, doc, validate=False))


def test_version_compare_is_numeric() -> None:
    assert version_key("2026.11.0") < version_key("2026.12.0") < version_key("2027.1.0")
    assert version_key("2026.9.0") < version_key("2026.10.0")
    assert version_key("2026.11") == version_key("2026.11.0")
    with pytest.raises(CatalogError):
        version_key("2026.x")


def test_bad_public_key_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="32-byte"):
        verify_update(b"short", sign_update(PRIVATE, small_doc()))


def test_corrupt_installed_file_falls_back_to_the_default(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    install_update(tmp_path, sign_update(PRIVATE, small_doc("2026.12.0")), PUBLIC)
    path = tmp_path / INSTALLED_NAME
    path.write_bytes(path.read_bytes()[:200])
    status = installed_catalog(tmp_path)
    assert status.source == "default" and status.catalog.version == load_catalog().version
    assert "not valid JSON" in status.problem
    assert "using the shipped default" in caplog.text
    assert load_installed(tmp_path).version == load_catalog().version
    # a corrupt file does not block the next update
    assert install_update(tmp_path, sign_update(PRIVATE, small_doc("2026.12.1")), PUBLIC).version == "2026.12.1"


def test_installed_file_edited_on_disk_is_caught_with_the_key(tmp_path: Path) -> None:
    install_update(tmp_path, sign_update(PRIVATE, small_doc("2026.12.0")), PUBLIC)
    path = tmp_path / INSTALLED_NAME
    doc = json.loads(path.read_bytes())
    doc["catalog"]["items"][0]["name"]["zh"] = "老年人优待证办理"
    doc["catalog"]["items"][0]["pinyin"] = "lao nian ren you dai zheng ban li"
    doc["catalog"]["items"][0]["initials"] = "lnrydzbl"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert load_installed(tmp_path).items[0].name_zh == "老年人优待证办理"  # schema-valid without the key
    status = installed_catalog(tmp_path, PUBLIC)
    assert status.source == "default" and "signature does not verify" in status.problem


def test_installed_catalogue_older_than_a_newer_shipped_default_yields(tmp_path: Path) -> None:
    old = small_doc("2026.1.0")
    (tmp_path / INSTALLED_NAME).write_bytes(sign_update(PRIVATE, old))
    status = installed_catalog(tmp_path, PUBLIC)
    assert status.source == "default" and "newer" in status.problem


def test_failed_write_leaves_the_old_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_update(tmp_path, sign_update(PRIVATE, small_doc("2026.12.0")), PUBLIC)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(CatalogError, match="could not be written"):
        install_update(tmp_path, sign_update(PRIVATE, small_doc("2026.12.5")), PUBLIC)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [INSTALLED_NAME]
    assert load_installed(tmp_path, PUBLIC).version == "2026.12.0"


# --- fuzz: whatever arrives, only CatalogError escapes --------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_catalog_errors(data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        verify_update(PUBLIC, data)


@_FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _only_catalog_errors(data)


@_FUZZ
@given(catalog=_json_values, sig=st.one_of(st.text(max_size=100), _json_values))
def test_fuzz_unsigned_documents(catalog: Any, sig: Any) -> None:
    _only_catalog_errors(json.dumps({"catalog": catalog, "sig": sig}).encode())


@_FUZZ
@given(st.dictionaries(st.sampled_from(["format", "version", "categories", "items", "eligibility", "x"]),
                       _json_values, max_size=6))
def test_fuzz_signed_garbage_catalogues(catalog: dict[str, Any]) -> None:
    _only_catalog_errors(sign_update(PRIVATE, catalog, validate=False))


@_FUZZ
@given(path=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=5), value=_json_values)
def test_fuzz_signed_mutations_of_a_valid_catalogue(path: list[int], value: Any) -> None:
    doc = small_doc(n=1)
    doc["eligibility"] = doc["eligibility"][:1]
    node: Any = doc
    for step in path[:-1]:  # walk down by position among keys / list items
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        if not children or not isinstance(children[step % len(children)], dict | list):
            break
        node = children[step % len(children)]
    if isinstance(node, dict) and node:
        node[list(node)[path[-1] % len(node)]] = value
    elif isinstance(node, list) and node:
        node[path[-1] % len(node)] = value
    _only_catalog_errors(sign_update(PRIVATE, doc, validate=False))


def test_infinite_numbers_cannot_be_signed() -> None:
    with pytest.raises(CatalogError, match="cannot be serialised"):
        sign_update(PRIVATE, {"format": float("inf")}, validate=False)


def test_deeply_nested_input_is_a_catalog_error() -> None:
    deep = b'{"catalog": ' + b"[" * 100_000 + b"]" * 100_000 + b', "sig": ""}'
    with pytest.raises(CatalogError):
        verify_update(PUBLIC, deep)
    cond: dict[str, Any] = {"age_gte": 1}
    for _ in range(300):  # fine for json, too deep for the schema validator's recursion
        cond = {"not": cond}
    doc = small_doc()
    doc["eligibility"] = [{"if": cond, "item": "RS-SYDJ-003", "hint_zh": "甲", "hint_en": "A"}]
    with pytest.raises(CatalogError):
        verify_update(PUBLIC, sign_update(PRIVATE, doc, validate=False))
