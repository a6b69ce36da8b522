"""Charset decisions from raw bytes, on real QR codes read by every engine."""

from __future__ import annotations

import numpy as np
import pytest
import segno

from drivers.codes.charset import decode_text, guess_text, parse_eci_bytes
from drivers.codes.engines import OpenCVEngine, ZbarEngine, ZxingEngine

TEXT = "北京市朝阳区建外街道便民服务中心：居住证\\办理"


def render(qr: segno.QRCode, px: int = 4) -> np.ndarray:
    m = np.pad(np.array(qr.matrix, np.uint8), 4)
    return np.kron(np.where(m == 1, 0, 255).astype(np.uint8), np.ones((px, px), np.uint8))


CASES = {
    "utf8_eci": (segno.make_qr(TEXT, encoding="utf-8", eci=True), TEXT.encode("utf-8"), TEXT),
    "utf8": (segno.make_qr(TEXT.encode("utf-8")), TEXT.encode("utf-8"), TEXT),
    "gbk": (segno.make_qr(TEXT.encode("gbk")), TEXT.encode("gbk"), TEXT),
    "gb18030_eci": (segno.make_qr(TEXT, encoding="gb18030", eci=True), TEXT.encode("gb18030"), TEXT),
    "binary": (segno.make_qr(b"\x00\x01\x02\xff\x80" + bytes(range(0, 250, 11))),
               b"\x00\x01\x02\xff\x80" + bytes(range(0, 250, 11)), None),
}

ENGINES = [ZxingEngine(), ZbarEngine(), OpenCVEngine("aruco"), OpenCVEngine("plain")]


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_engine_returns_exact_bytes_and_text(engine, case):
    qr, raw, text = CASES[case]
    codes = engine.decode(render(qr))
    assert len(codes) == 1
    c = codes[0]
    assert c.format == "QRCode"
    assert c.raw == raw
    assert c.text == text
    if text is None:
        assert c.charset is None
    else:
        assert c.charset in ("utf-8", "gb18030")


def test_eci_is_reported_by_zxing_and_honoured():
    # Latin-2 text with its ECI: a guesser would say UTF-8 fails, GB18030 fails, Latin-1 "wins" wrongly.
    text = "Łódź zażółć"
    qr = segno.make_qr(text, encoding="iso-8859-2", eci=True)
    [c] = ZxingEngine().decode(render(qr))
    assert c.text == text
    assert c.charset == "iso-8859-2"
    assert c.raw == text.encode("iso-8859-2")


def test_guess_order():
    assert guess_text("街道".encode()) == ("街道", "utf-8")
    assert guess_text("街道服务".encode("gbk")) == ("街道服务", "gb18030")
    assert guess_text("café".encode("latin-1")) == ("café", "iso-8859-1")
    assert guess_text(b"\x00\x01\x02\x03") == (None, None)
    assert guess_text(b"\x81\x82\x83") == (None, None)  # C1 controls / broken GB18030
    assert guess_text(b"") == ("", "utf-8")


def test_eci_binary_and_lying_eci():
    assert decode_text(b"abc", 899) == (None, None)
    # ECI says UTF-8 but bytes are GBK: fall back to guessing instead of failing.
    assert decode_text("服务".encode("gbk"), 26) == ("服务", "gb18030")
    assert decode_text("服务".encode("gbk"), 32) == ("服务", "gb18030")


def test_parse_eci_bytes_segments_and_escaped_backslash():
    sym, segs = parse_eci_bytes(b"]Q2\\000026a\\\\b\\000029\xc4\xe3")
    assert sym == "]Q2"
    assert segs == [(26, b"a\\b"), (29, b"\xc4\xe3")]
    sym, segs = parse_eci_bytes(b"]Q1a\\000026b")
    assert sym == "]Q1"
    assert segs == [(None, b"a\\000026b")]  # no ECI mode: backslashes are data
