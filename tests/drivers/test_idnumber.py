"""Resident ID numbers: check character, validation reasons, parsing, region fallback."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import idnumber
from drivers.idnumber import IdNumberError

EXAMPLES = ["11010519491231002X", "440524188001010014"]
TODAY = dt.date(2026, 11, 27)


@pytest.mark.parametrize("number", EXAMPLES)
def test_examples_are_valid(number: str) -> None:
    assert idnumber.validate(number, today=TODAY) == number
    assert idnumber.check_char(number[:17]) == number[17]
    assert idnumber.is_valid(number)


def test_lower_case_x_and_whitespace_are_normalised() -> None:
    assert idnumber.validate(" 11010519491231002x ", today=TODAY) == "11010519491231002X"


def test_parse_beijing_chaoyang() -> None:
    info = idnumber.parse("11010519491231002X", today=TODAY)
    assert info.region_code == "110105"
    assert info.region_name == "北京市朝阳区"
    assert info.region_exact
    assert info.birth_date == dt.date(1949, 12, 31)
    assert info.sequence == 2
    assert info.sex == "女"
    assert info.age(dt.date(2026, 12, 30)) == 76
    assert info.age(dt.date(2026, 12, 31)) == 77


def test_parse_historical_county_falls_back_to_prefecture() -> None:
    info = idnumber.parse("440524188001010014", today=TODAY)
    assert info.sex == "男"
    assert info.birth_date == dt.date(1880, 1, 1)
    assert info.region_name == "广东省汕头市"
    assert not info.region_exact


def test_repr_hides_personal_data() -> None:
    info = idnumber.parse(EXAMPLES[0], today=TODAY)
    assert "1949" not in repr(info) and EXAMPLES[0] not in repr(info)


def test_region_table_has_every_province() -> None:
    table = idnumber.region_table()
    provinces = [c for c in table if c.endswith("0000")]
    assert len(provinces) == 34
    assert table["440000"] == "广东省" and table["650000"] == "新疆维吾尔自治区"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("440300", "广东省深圳市"),
        ("440399", "广东省深圳市"),  # unknown county -> prefecture
        ("449999", "广东省"),  # unknown prefecture -> province
        ("310000", "上海市"),
        ("990000", None),
        ("12345", None),
        ("abcdef", None),
    ],
)
def test_region_fallback(code: str, name: str | None) -> None:
    assert idnumber.region_name(code) == name


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("11010519491231002", "length"),
        ("11010519491231002XX", "length"),
        ("", "length"),
        ("1101051949123100X2", "charset"),
        ("11010519491231002Y", "charset"),
        ("１１０１０５１９４９１２３１００２X", "charset"),  # full-width digits
        ("110105194912310021", "check_char"),
        ("440524188001010013", "check_char"),
        ("110105194902300028", "birth_date"),  # 30 February
        ("110105194913010028", "birth_date"),  # month 13
        ("110105203001010028", "birth_date"),  # in the future
        ("110105179912310028", "birth_date"),  # before 1800
    ],
)
def test_invalid_numbers_give_a_reason_but_never_the_number(number: str, reason: str) -> None:
    with pytest.raises(IdNumberError) as info:
        idnumber.validate(number, today=TODAY)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    assert number.strip() not in str(info.value) or not number
    assert not idnumber.is_valid(number)


digits17 = st.builds(
    lambda region, born, seq: f"{region}{born:%Y%m%d}{seq:03d}",
    st.sampled_from(["110105", "440300", "650102", "310115"]),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY),
    st.integers(0, 999),
)


@settings(deadline=None)
@given(digits17)
def test_generated_numbers_validate_and_any_changed_digit_fails(first17: str) -> None:
    number = first17 + idnumber.check_char(first17)
    assert idnumber.validate(number, today=TODAY) == number
    info = idnumber.parse(number, today=TODAY)
    assert info.sex == ("男" if int(first17[14:17]) % 2 else "女")
    for pos in (0, 9, 16):
        changed = number[:pos] + str((int(number[pos]) + 1) % 10) + number[pos + 1 :]
        with pytest.raises(IdNumberError):
            idnumber.validate(changed, today=TODAY)


@settings(deadline=None)
@given(st.text(max_size=25))
def test_arbitrary_text_raises_only_id_number_error(text: str) -> None:
    try:
        idnumber.validate(text, today=TODAY)
    except IdNumberError as exc:
        assert exc.reason in {"length", "charset", "birth_date", "check_char"}
