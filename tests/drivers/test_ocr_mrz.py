"""ICAO 9303 MRZ: specimen vectors, check-digit failures, fuzzing, and real OCR of rendered bands."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.ocr import mrz, synth
from drivers.ocr.engine import RapidOcrEngine
from drivers.ocr.mrz import MrzError

# ICAO Doc 9303 specimens (Part 4 TD3, Part 5 TD1, Part 6 TD2): the fictional state Utopia.
TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
       "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<",
       "7408122F1204159UTO<<<<<<<<<<<6",
       "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]
TD2 = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
       "D231458907UTO7408122F1204159<<<<<<<6"]


def test_check_digit_vectors() -> None:
    assert mrz.check_digit("L898902C3") == "6"
    assert mrz.check_digit("740812") == "2"
    assert mrz.check_digit("120415") == "9"
    assert mrz.check_digit("ZE184226B<<<<<") == "1"
    assert mrz.check_digit("D23145890") == "7"
    assert mrz.check_digit("<<<<") == "0"


def test_td3_specimen() -> None:
    r = mrz.parse(TD3)
    assert (r.format, r.document_code, r.issuing_state, r.nationality) == ("TD3", "P", "UTO", "UTO")
    assert (r.surname, r.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert (r.document_number, r.birth_date, r.sex, r.expiry_date) == ("L898902C3", "740812", "F", "120415")
    assert r.optional_data == "ZE184226B"
    assert r.names_need_confirmation is True and r.names_truncated is False
    assert r.birth(today=dt.date(2026, 1, 1)) == dt.date(1974, 8, 12)
    assert r.expiry() == dt.date(2012, 4, 15)
    assert "ERIKSSON" not in repr(r)


def test_td1_specimen() -> None:
    r = mrz.parse("\n".join(TD1))
    assert (r.format, r.document_code, r.document_number) == ("TD1", "I", "D23145890")
    assert (r.surname, r.given_names, r.birth_date, r.sex) == ("ERIKSSON", "ANNA MARIA", "740812", "F")
    assert (r.optional_data, r.optional_data_2) == ("", "")


def test_td2_specimen() -> None:
    r = mrz.parse(TD2)
    assert (r.format, r.document_number, r.nationality, r.expiry_date) == ("TD2", "D23145890", "UTO", "120415")
    assert (r.surname, r.given_names) == ("ERIKSSON", "ANNA MARIA")


def test_td1_long_document_number() -> None:
    number = "D23145890734"
    opt = number[9:] + mrz.check_digit(number) + "<"
    l1 = "I<UTO" + number[:9] + "<" + opt + "<" * (15 - len(opt))
    l2 = "7408122F1204159UTO<<<<<<<<<<<"
    l2 += mrz.check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    r = mrz.parse([l1, l2, TD1[2]])
    assert r.document_number == number
    assert r.optional_data == ""


def _replace(line: str, i: int, ch: str) -> str:
    return line[:i] + ch + line[i + 1:]


@pytest.mark.parametrize(("lines", "line", "pos", "reason"), [
    (TD3, 1, 9, "document_number"),
    (TD3, 1, 19, "birth_date"),
    (TD3, 1, 27, "expiry_date"),
    (TD3, 1, 42, "optional_data"),
    (TD3, 1, 43, "composite"),
    (TD1, 0, 14, "document_number"),
    (TD1, 1, 6, "birth_date"),
    (TD1, 1, 14, "expiry_date"),
    (TD1, 1, 29, "composite"),
    (TD2, 1, 9, "document_number"),
    (TD2, 1, 19, "birth_date"),
    (TD2, 1, 27, "expiry_date"),
    (TD2, 1, 35, "composite"),
])
def test_each_check_digit_failure(lines: list[str], line: int, pos: int, reason: str) -> None:
    bad = list(lines)
    old = bad[line][pos]
    bad[line] = _replace(bad[line], pos, str((int(old) + 1) % 10))
    with pytest.raises(MrzError) as ei:
        mrz.parse(bad)
    assert ei.value.reason == reason
    assert bad[line] not in str(ei.value)


def test_data_change_is_caught_by_field_or_composite() -> None:
    bad = list(TD3)
    bad[1] = _replace(bad[1], 15, "5")  # birth month 08 -> 58: birth-date check digit fails
    with pytest.raises(MrzError) as ei:
        mrz.parse(bad)
    assert ei.value.reason == "birth_date"


@pytest.mark.parametrize(("lines", "reason"), [
    (["P<UTO"], "format"),
    ([TD3[0], TD3[1][:-1]], "format"),
    ([TD3[0].lower(), TD3[1]], "charset"),
    ([TD3[0], _replace(TD3[1], 20, "?")], "charset"),
    ([TD3[0], _replace(TD3[1], 19, "A")], "check_digit"),
])
def test_format_and_charset_errors(lines: list[str], reason: str) -> None:
    with pytest.raises(MrzError) as ei:
        mrz.parse(lines)
    assert ei.value.reason == reason


def test_non_text_input() -> None:
    with pytest.raises(MrzError):
        mrz.parse(123)  # type: ignore[arg-type]


# --- fuzzing ---------------------------------------------------------------------------------------

MRZ_CHARS = st.sampled_from(sorted(mrz.ALPHABET))


@st.composite
def mrz_shaped(draw: st.DrawFn) -> list[str]:
    n, length = draw(st.sampled_from(list(mrz.FORMATS.values())))
    return [draw(st.text(MRZ_CHARS, min_size=length, max_size=length)) for _ in range(n)]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.text(), max_size=4), mrz_shaped()))
def test_fuzz_only_mrz_error_escapes(data: str | list[str]) -> None:
    try:
        r = mrz.parse(data)
    except MrzError:
        return
    assert r.format in mrz.FORMATS
    assert r.names_need_confirmation


@settings(max_examples=300, deadline=None)
@given(mrz_shaped(), st.data())
def test_fuzz_mutated_specimens(_: list[str], data: st.DataObject) -> None:
    lines = list(data.draw(st.sampled_from([TD1, TD2, TD3])))
    i = data.draw(st.integers(0, len(lines) - 1))
    j = data.draw(st.integers(0, len(lines[i]) - 1))
    lines[i] = _replace(lines[i], j, data.draw(st.characters()))
    with contextlib.suppress(MrzError):
        mrz.parse(lines)


NAME = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), min_size=1, max_size=12)
YYMMDD = st.dates(dt.date(1930, 1, 1), dt.date(2099, 12, 31)).map(lambda d: d.strftime("%y%m%d"))
DOCNO = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), min_size=1, max_size=9)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["TD1", "TD2", "TD3"]), NAME, NAME, DOCNO, YYMMDD, YYMMDD, st.sampled_from("MFX"),
       st.data())
def test_fuzz_compose_parse_round_trip(fmt: str, sur: str, given_: str, number: str, birth: str, expiry: str,
                                       sex: str, data: st.DataObject) -> None:
    compose = {"TD1": mrz.compose_td1, "TD2": mrz.compose_td2, "TD3": mrz.compose_td3}[fmt]
    lines = compose(state="UTO", surname=sur, given_names=given_, number=number, nationality="UTO",
                    birth=birth, sex="<" if sex == "X" else sex, expiry=expiry)
    r = mrz.parse(lines)
    assert (r.format, r.document_number, r.birth_date, r.expiry_date, r.sex) == (fmt, number, birth, expiry, sex)
    assert (r.surname, r.given_names) == (sur, given_)
    # Any digit-for-digit substitution in a checked numeric field is detected.
    line_i, positions = {"TD3": (1, [*range(13, 19), *range(21, 27)]),
                         "TD2": (1, [*range(13, 19), *range(21, 27)]),
                         "TD1": (1, [*range(0, 6), *range(8, 14)])}[fmt]
    pos = data.draw(st.sampled_from(positions))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != lines[line_i][pos]]))
    bad = list(lines)
    bad[line_i] = _replace(bad[line_i], pos, new)
    with pytest.raises(MrzError):
        mrz.parse(bad)


# --- OCR clean-up and real OCR of rendered bands ---------------------------------------------------

def test_repair_maps_confusions_only_in_typed_positions() -> None:
    ocr = ["P<UTOERIKSS0N<<ANNA<MARIA", "L898902C36UT07408I22F12O4159ZE184226B<<<<<1O"]
    fixed = mrz.repair(ocr)
    assert fixed == TD3
    assert mrz.clean_line("P«UTO ERIKSSON") == "P<<UTOERIKSSON"
    assert mrz.repair(["too short"]) is None


@pytest.fixture(scope="module")
def engine() -> Iterator[RapidOcrEngine]:
    e = RapidOcrEngine()
    e.load()
    yield e


@pytest.mark.parametrize("lines", [
    TD3,
    TD1,
    mrz.compose_td2(state="CHN", surname="ZHANG", given_names="SAN", number="C12345678", nationality="CHN",
                    birth="491231", sex="F", expiry="300101"),
])
def test_ocr_of_rendered_band(engine: RapidOcrEngine, lines: list[str]) -> None:
    img = synth.render_mrz(lines, np.random.default_rng(3), degrade=0.5)
    assert mrz.read_mrz(img, engine) == mrz.parse(lines)


def test_ocr_of_empty_band(engine: RapidOcrEngine) -> None:
    with pytest.raises(MrzError) as ei:
        mrz.read_mrz(np.full((120, 900, 3), 230, np.uint8), engine)
    assert ei.value.reason == "no_mrz"
