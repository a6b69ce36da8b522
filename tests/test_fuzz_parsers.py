"""Fuzzing the kiosk's input parsers (hypothesis; budget in tests/fuzzing.py): the ID-card reader's frame
decoder and text block, the QR payload parser (e-licence, e-ID, receipt, provisioning token), and the
service catalogue loader. Each raises only its documented error type, never hangs, and round-trips
what it accepts."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codes import payloads
from drivers.codes.payloads import PayloadError, parse_payload
from drivers.idcard import protocol
from drivers.idcard.protocol import FrameDecoder, FrameError
from drivers.idcard.textblock import TextBlockError, build_text_block, parse_text_block
from kiosk.catalog import model
from kiosk.catalog.model import CatalogError
from tests.fuzzing import EXAMPLES, FUZZ

# -- ID-card reader frames ------------------------------------------------------------------------------

payloads_st = st.binary(min_size=protocol.MIN_LENGTH - 1, max_size=300)


@FUZZ
@given(good=st.lists(payloads_st, max_size=4), junk=st.lists(st.binary(max_size=40), max_size=5),
       cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_frame_decoder_finds_every_good_frame_among_junk_in_any_split(good: list[bytes], junk: list[bytes],
                                                                      cuts: list[int]) -> None:
    stream = b""
    for i, p in enumerate(good):
        stream += (junk[i] if i < len(junk) else b"") + protocol.encode_frame(p)
    decoder = FrameDecoder()
    frames: list[bytes] = []
    pieces, last = [], 0
    for c in sorted(min(c, len(stream)) for c in cuts):
        pieces.append(stream[last:c])
        last = c
    pieces.append(stream[last:])
    for piece in [*pieces, b""]:
        try:
            frames += [f.payload for f in decoder.feed(piece)]
        except FrameError:
            frames += [f.payload for f in decoder.feed(b"")]
    # Junk may itself hold a frame-looking sequence, so the good frames must appear in order as a subsequence.
    it = iter(frames)
    assert all(any(f == p for f in it) for p in good)


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_frame_decoder_raises_only_frame_errors_on_noise(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    for chunk in [*chunks, protocol.PREAMBLE + b"\x00", b"\xff" * 3]:
        try:
            for frame in decoder.feed(chunk):
                for parse in (protocol.Request.from_frame, protocol.Response.from_frame):
                    with contextlib.suppress(FrameError):
                        parse(frame)
        except FrameError:
            pass
    assert len(decoder._buf) <= protocol.HEADER_LEN + protocol.MAX_LENGTH  # bounded memory


@FUZZ
@given(st.binary(max_size=2400))
def test_base_info_split_raises_only_frame_errors(data: bytes) -> None:
    try:
        text, photo = protocol.split_base_info(data)
    except FrameError:
        return
    assert protocol.build_base_info(text, photo) == data


@FUZZ
@given(st.one_of(st.binary(min_size=256, max_size=256), st.binary(max_size=300),
                 st.text(max_size=128).map(lambda t: t.encode("utf-16-le", "surrogatepass")[:256].ljust(256, b" "))))
def test_text_block_raises_only_text_block_error_and_round_trips(block: bytes) -> None:
    try:
        record = parse_text_block(block)
    except TextBlockError:
        return
    assert parse_text_block(build_text_block(record)) == record


# -- QR payloads ----------------------------------------------------------------------------------------

qr_text = st.one_of(
    st.text(max_size=300),
    st.builds(lambda p, b: p + b, st.sampled_from(["KIOSKPROV1:", "CTID:", "KR-", "ezz://licence?", "EZZ:", "{"]),
              st.text(alphabet=st.characters(codec="utf-8"), max_size=200)),
    st.builds(lambda q: "ezz://licence?" + "&".join(f"{k}={v}" for k, v in q),
              st.lists(st.tuples(st.sampled_from(["type", "id", "issuer", "ts", "x"]),
                                 st.text(max_size=12)), max_size=6)),
    st.dictionaries(st.sampled_from(["zzlxdm", "zzbh", "bfjgdm", "ts", "x"]),
                    st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.none(), st.booleans()),
                    max_size=5).map(json.dumps),
    st.text(min_size=payloads.MAX_PAYLOAD - 5, max_size=payloads.MAX_PAYLOAD + 5),
)


@FUZZ
@given(qr_text)
def test_payload_parser_raises_only_payload_error(text: str) -> None:
    try:
        result = parse_payload(text)
    except PayloadError as exc:
        assert exc.reason
        assert len(text.strip()) < 3 or text.strip()[:40] not in str(exc)  # the payload is never quoted
        return
    assert result is not None


@FUZZ
@given(date=st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)),
       device=st.from_regex(r"[0-9A-Z]{4}", fullmatch=True), seq=st.integers(0, 999_999))
def test_receipt_numbers_round_trip(date: Any, device: str, seq: int) -> None:
    number = payloads.make_receipt_number(date, device, seq)
    parsed = parse_payload(number)
    assert isinstance(parsed, payloads.ReceiptNumber)
    flipped = number[:-1] + ("0" if number[-1] != "0" else "1")
    with pytest.raises(PayloadError):
        parse_payload(flipped)


# -- catalogue documents --------------------------------------------------------------------------------

_DEFAULT = json.loads(model.DEFAULT_CATALOG.read_text(encoding="utf-8"))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=10)


def _mutate(doc: Any, path: list[int], value: Any) -> Any:
    """Replace one node of ``doc`` (chosen by ``path``) with ``value``."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = keys[path[0] % len(keys)]
    out = dict(doc) if isinstance(doc, dict) else list(doc)
    out[key] = _mutate(doc[key], path[1:], value)  # type: ignore[index]
    return out


@settings(FUZZ, max_examples=max(10, EXAMPLES // 4))  # each example validates a whole catalogue
@given(st.one_of(st.binary(max_size=400), json_values.map(lambda v: json.dumps(v).encode()),
                 st.tuples(st.lists(st.integers(0, 50), max_size=6), json_values)
                 .map(lambda pv: json.dumps(_mutate(_DEFAULT, *pv), ensure_ascii=False).encode())))
def test_catalogue_loader_raises_only_catalog_error(data: bytes) -> None:
    try:
        catalog = model.catalog_from_document(model.parse_json(data))
    except CatalogError:
        return
    assert catalog.items  # what loads is a usable catalogue
