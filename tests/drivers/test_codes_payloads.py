"""Typed payload parsing; hypothesis fuzzing proves only PayloadError escapes."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import inspect
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codes import payloads
from drivers.codes.payloads import (
    EIdToken,
    ELicenceRef,
    PayloadError,
    ProvisioningToken,
    ReceiptNumber,
    make_receipt_number,
    parse_payload,
    receipt_check_char,
)
from drivers.interfaces import DecodedCode


def test_elicence_uri():
    r = parse_payload("ezz://licence?type=bizlic&id=91110105MA01ABCD3X&issuer=BJ-AIC&ts=1732700000")
    assert r == ELicenceRef("bizlic", "91110105MA01ABCD3X", "BJ-AIC", 1732700000, "uri")
    # any order, unknown parameters ignored
    r2 = parse_payload("ezz://licence?ts=1732700000&x=1&issuer=BJ-AIC&id=91110105MA01ABCD3X&type=bizlic")
    assert r2 == r


@pytest.mark.parametrize("bad", [
    "ezz://licence?type=bizlic&id=X&issuer=I",  # no ts
    "ezz://licence?type=bizlic&type=x&id=X&issuer=I&ts=1732700000",  # duplicate
    "ezz://licence?type=BIZ LIC&id=X&issuer=I&ts=1732700000",
    "ezz://licence?type=a&id=X&issuer=I&ts=17",  # ts out of range
    "ezz://other?type=a&id=X&issuer=I&ts=1732700000",
])
def test_elicence_uri_errors(bad):
    with pytest.raises(PayloadError):
        parse_payload(bad)


def test_elicence_json_gbt36901_style():
    r = parse_payload('{"zzlxdm": "hukou", "zzbh": "110105-000123", "bfjgdm": "BJ.PSB", "ts": 1732700000}')
    assert r == ELicenceRef("hukou", "110105-000123", "BJ.PSB", 1732700000, "json")
    assert parse_payload('{"zzlxdm": "a", "zzbh": "b", "bfjgdm": "c"}').ts is None
    with pytest.raises(PayloadError) as e:
        parse_payload('{"zzlxdm": "a", "zzbh": "b"}')
    assert e.value.reason == "elicence-missing-field"
    with pytest.raises(PayloadError):
        parse_payload("[1, 2]")


def test_ctid_token():
    body = base64.urlsafe_b64encode(bytes(range(60))).decode().rstrip("=")
    r = parse_payload("CTID:" + body)
    assert isinstance(r, EIdToken) and r.token == "CTID:" + body
    assert body not in repr(r)
    for bad in ("CTID:short", "CTID:" + "a" * 3000, "CTID:" + "*" * 40):
        with pytest.raises(PayloadError):
            parse_payload(bad)


def test_receipt_number_roundtrip_and_check():
    s = make_receipt_number(dt.date(2024, 11, 27), "A1B2", 123)
    r = parse_payload(s)
    assert isinstance(r, ReceiptNumber)
    assert (r.date, r.device, r.sequence) == (dt.date(2024, 11, 27), "A1B2", 123)
    assert str(r) == s
    wrong = s[:-1] + ("0" if s[-1] != "0" else "1")
    with pytest.raises(PayloadError) as e:
        parse_payload(wrong)
    assert e.value.reason == "receipt-bad-check"
    with pytest.raises(PayloadError) as e:
        parse_payload("KR-20241331-A1B2-000123-" + receipt_check_char("20241331A1B2000123"))
    assert e.value.reason == "receipt-bad-date"


def test_provisioning_envelope():
    body = base64.urlsafe_b64encode(b'{"device":"k-001","sig":"..."}').decode()
    r = parse_payload(DecodedCode("QRCode", b"", "KIOSKPROV1:" + body, "utf-8"))
    assert isinstance(r, ProvisioningToken) and r.body.startswith(b'{"device"')
    assert "k-001" not in repr(r)
    with pytest.raises(PayloadError):
        parse_payload("KIOSKPROV1:AAAA")  # too short
    with pytest.raises(PayloadError):
        parse_payload("KIOSKPROV1:not base64!")


def test_binary_and_unknown_do_not_echo_payload():
    with pytest.raises(PayloadError) as e:
        parse_payload(DecodedCode("QRCode", b"\x00\x01", None, None))
    assert e.value.reason == "binary"
    secret = "张伟 11010519491231002X"
    with pytest.raises(PayloadError) as e:
        parse_payload(secret)
    assert secret not in str(e.value) and "11010519491231002X" not in repr(e.value)
    assert isinstance(e.value, ValueError)


PREFIXES = st.sampled_from(["", "ezz://licence?", "ezz:", "CTID:", "KR-", "KIOSKPROV1:", "{", '{"zzlxdm":'])
# Every fixed word an error may say: the string literals of the module's PayloadError(...) calls. A payload that
# happens to be one of those words ("json" in json-invalid) is found in the message without being echoed.
FIXED_WORDING = re.findall(r'"([^"]*)"', " ".join(re.findall(r"PayloadError\((.*?)\)", inspect.getsource(payloads))))


@settings(max_examples=300, deadline=None)
@given(PREFIXES, st.text(max_size=200))
def test_fuzz_only_payload_error_escapes(prefix, tail):
    text = prefix + tail
    try:
        parse_payload(text)
    except PayloadError as e:
        echoed = len(tail) >= 4 and tail in str(e)
        assert not echoed or any(tail in fixed for fixed in FIXED_WORDING), (tail, str(e))


def test_the_payload_echo_check_knows_the_fixed_wording() -> None:
    assert "json-invalid" in FIXED_WORDING and "payload is not a format the kiosk understands" in FIXED_WORDING
    with pytest.raises(PayloadError) as e:
        parse_payload("{json")  # hypothesis found this one: the payload's "json" is the error's own word
    assert e.value.reason == "json-invalid"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "id", "issuer", "ts", "x"]),
                       st.text(alphabet="abcXYZ019-_.%&= 街", max_size=20), max_size=5))
def test_fuzz_elicence_query(params):
    from urllib.parse import urlencode

    try:
        r = parse_payload("ezz://licence?" + urlencode(params))
    except PayloadError:
        return
    assert isinstance(r, ELicenceRef)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["KIOSKPROV1:", "CTID:", "KR-"]))
def test_fuzz_b64_bodies(data, prefix):
    text = prefix + base64.urlsafe_b64encode(data).decode().rstrip("=")
    with contextlib.suppress(PayloadError):
        parse_payload(DecodedCode("QRCode", text.encode(), text, "utf-8"))
