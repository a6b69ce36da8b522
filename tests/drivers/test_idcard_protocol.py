"""Reader frames, status codes, the incremental decoder and the text block, incl. fuzzing."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.idcard import protocol as p
from drivers.idcard.protocol import (
    FrameChecksumError,
    FrameDecoder,
    FrameError,
    FrameLengthError,
    IdCardError,
    Response,
)
from drivers.idcard.simulator import DEFAULT_PHOTO, SAMPLE_RECORD
from drivers.idcard.textblock import (
    ETHNIC_GROUPS,
    NATIONS,
    TextBlockError,
    build_text_block,
    parse_text_block,
)
from drivers.interfaces import IdentityRecord

# ----------------------------------------------------------------------------- frames


def test_find_card_frame_is_exact() -> None:
    assert p.encode_request(p.FIND_CARD) == bytes.fromhex("AA AA AA 96 69 00 03 20 01 22")


@pytest.mark.parametrize(
    ("cmd", "code", "param"),
    [
        (p.RESET, 0x10, 0xFF),
        (p.STATUS, 0x11, 0xFF),
        (p.SAM_ID, 0x12, 0xFF),
        (p.FIND_CARD, 0x20, 0x01),
        (p.SELECT_CARD, 0x20, 0x02),
        (p.READ_BASE, 0x30, 0x01),
        (p.READ_FULL, 0x30, 0x10),
    ],
)
def test_request_frames(cmd: p.Command, code: int, param: int) -> None:
    frame = p.encode_request(cmd)
    assert frame[:5] == p.PREAMBLE
    assert frame[5:7] == b"\x00\x03"
    assert frame[7:9] == bytes([code, param])
    assert frame[9] == 0x00 ^ 0x03 ^ code ^ param
    [decoded] = FrameDecoder().feed(frame)
    assert p.Request.from_frame(decoded).command == cmd


def test_known_no_card_and_card_found_replies() -> None:
    assert p.encode_response(0x80) == bytes.fromhex("AA AA AA 96 69 00 04 00 00 80 84")
    assert p.encode_response(0x9F, bytes(4)) == bytes.fromhex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")


def test_base_info_reply_is_1295_bytes_and_splits_back() -> None:
    text = build_text_block(SAMPLE_RECORD)
    data = p.build_base_info(text, DEFAULT_PHOTO)
    assert data[:4] == bytes.fromhex("01000400")
    reply = p.encode_response(0x90, data)
    assert len(reply) == 1295
    assert reply[5:7] == (1295 - 7).to_bytes(2, "big")
    [frame] = FrameDecoder().feed(reply)
    resp = Response.from_frame(frame).raise_for_status()
    assert p.split_base_info(resp.data) == (text, DEFAULT_PHOTO)


@pytest.mark.parametrize("data", [b"", b"\x01\x00", b"\x01\x00\x04\x00" + bytes(100), b"\x00\x10\x00\x00"])
def test_split_base_info_rejects_bad_lengths(data: bytes) -> None:
    with pytest.raises(p.FrameFormatError):
        p.split_base_info(data)


def test_response_shorter_than_status_is_a_format_error() -> None:
    with pytest.raises(p.FrameFormatError):
        Response.from_frame(p.Frame(b"\x00\x00"))


# ----------------------------------------------------------------------------- statuses

LISTED = {
    0x10: p.ReaderChecksumError,
    0x11: p.ReaderLengthError,
    0x21: p.ReaderCommandError,
    0x24: p.ReaderUnrecognisedError,
    0x31: p.CardAuthenticationError,
    0x32: p.CardAuthenticationError,
    0x33: p.CardVerificationError,
    0x40: p.WrongCardError,
    0x41: p.CardReadFailedError,
    0x47: p.RandomNumberError,
    0x60: p.SelfTestFailedError,
    0x66: p.NotAuthorisedError,
    0x80: p.CardNotFoundError,
    0x81: p.CardSelectError,
}


@pytest.mark.parametrize(("sw3", "cls"), LISTED.items())
def test_every_error_status_has_a_named_bilingual_error(sw3: int, cls: type) -> None:
    err = p.status_error(sw3)
    assert type(err) is cls
    assert isinstance(err, IdCardError)
    assert err.sw3 == sw3 and err.code == f"sw3-{sw3:02x}"
    msg = str(err)
    assert re.search(r"[\u4e00-\u9fff]", msg) and re.search(r"[a-z]{4}", msg)
    assert f"SW3={sw3:02X}" in msg
    with pytest.raises(cls):
        Response(0, 0, sw3).raise_for_status()


@pytest.mark.parametrize("sw3", [0x90, 0x9F])
def test_success_statuses(sw3: int) -> None:
    assert p.status_error(sw3) is None
    assert Response(0, 0, sw3).ok
    assert sw3 in p.STATUS_TEXT


def test_unknown_status() -> None:
    err = p.status_error(0x55)
    assert isinstance(err, p.UnknownStatusError) and err.code == "sw3-55"


# ----------------------------------------------------------------------------- decoder

FIND = p.encode_request(p.FIND_CARD)
FOUND = p.encode_response(0x9F, bytes(4))


def test_decoder_handles_byte_by_byte_input() -> None:
    dec = FrameDecoder()
    out = []
    for b in FIND + FOUND:
        out += dec.feed(bytes([b]))
    assert [f.payload for f in out] == [b"\x20\x01", b"\x00\x00\x9f\x00\x00\x00\x00"]
    assert not dec.mid_frame


def test_decoder_skips_garbage_and_partial_preambles() -> None:
    dec = FrameDecoder()
    assert dec.feed(b"\x00\x01noise\xaa\xaa\xaa\x96") == []
    assert dec.feed(b"\xaa\xaa") == []
    [frame] = dec.feed(FOUND[2:])
    assert Response.from_frame(frame).sw3 == 0x9F


def test_decoder_rejects_bad_checksum_then_resynchronises() -> None:
    bad = FOUND[:-1] + bytes([FOUND[-1] ^ 1])
    dec = FrameDecoder()
    with pytest.raises(FrameChecksumError):
        dec.feed(FIND + bad + FIND)
    # the frame before the error and the one after both come back
    assert [f.payload for f in dec.feed(b"")] == [b"\x20\x01", b"\x20\x01"]


@pytest.mark.parametrize("length", [0, 1, 2, p.MAX_LENGTH + 1, 0xFFFF])
def test_decoder_rejects_impossible_lengths(length: int) -> None:
    dec = FrameDecoder()
    with pytest.raises(FrameLengthError):
        dec.feed(p.PREAMBLE + length.to_bytes(2, "big") + b"\x00" * 8)
    assert dec.feed(FIND) != []


def test_truncated_frame_followed_by_a_good_one_recovers_after_reset() -> None:
    dec = FrameDecoder()
    reply = p.encode_response(0x90, bytes(100))
    assert dec.feed(reply[:50]) == []
    assert dec.mid_frame
    dec.reset()
    assert len(dec.feed(FOUND)) == 1


def test_payload_containing_the_preamble_is_fine() -> None:
    reply = p.encode_response(0x90, p.PREAMBLE * 3)
    [frame] = FrameDecoder().feed(b"xx" + reply)
    assert Response.from_frame(frame).data == p.PREAMBLE * 3


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64) | st.sampled_from([p.PREAMBLE, FIND, FOUND, p.PREAMBLE + b"\x0a"]),
                max_size=30))
def test_fuzz_decoder_raises_only_frame_errors(chunks: list[bytes]) -> None:
    dec = FrameDecoder()
    for chunk in chunks:
        try:
            for frame in dec.feed(chunk):
                assert p.MIN_LENGTH - 1 <= len(frame.payload) + 1 <= p.MAX_LENGTH
        except FrameError:
            pass


garbage = st.binary(max_size=40).filter(lambda g: b"\xaa" not in g)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(garbage, st.binary(max_size=300)), min_size=1, max_size=8),
    st.integers(1, 97),
)
def test_fuzz_frames_among_garbage_are_all_recovered(items: list[tuple[bytes, bytes]], step: int) -> None:
    stream = b"".join(g + p.encode_response(0x90, data) for g, data in items)
    dec = FrameDecoder()
    got: list[bytes] = []
    for i in range(0, len(stream), step):
        got += [Response.from_frame(f).data for f in dec.feed(stream[i : i + step])]
    assert got == [data for _, data in items]


# ----------------------------------------------------------------------------- text block


def test_text_block_round_trip() -> None:
    block = build_text_block(SAMPLE_RECORD)
    assert len(block) == 256
    assert block[:6] == "王小芳".encode("utf-16-le")
    assert block[6:30] == " ".encode("utf-16-le") * 12
    assert parse_text_block(block) == SAMPLE_RECORD


def test_text_block_fields_at_their_offsets() -> None:
    block = build_text_block(SAMPLE_RECORD)
    field = lambda a, n: block[a : a + n].decode("utf-16-le").rstrip()  # noqa: E731
    assert field(30, 2) == "2"
    assert field(32, 4) == "01"
    assert field(36, 16) == "19491231"
    assert field(122, 36) == "11010519491231002X"
    assert field(204, 16) == "长期"


def test_ethnic_group_table() -> None:
    assert len(ETHNIC_GROUPS) == 56
    assert NATIONS["01"] == "汉" and NATIONS["04"] == "藏" and NATIONS["56"] == "基诺"
    assert NATIONS["97"] == "其他" and "98" in NATIONS


def _with(record: IdentityRecord, **changes: str) -> IdentityRecord:
    return IdentityRecord(**{**record.__dict__, **changes})


def _patch(block: bytes, offset: int, size: int, text: str) -> bytes:
    raw = (text.encode("utf-16-le") + " ".encode("utf-16-le") * size)[:size]
    return block[:offset] + raw + block[offset + size :]


@pytest.mark.parametrize(
    ("offset", "size", "text", "field"),
    [
        (30, 2, "3", "sex"),
        (32, 4, "57", "nation"),
        (36, 16, "19490231", "birth_date"),
        (122, 36, "110105194912310021", "id_number"),
        (188, 16, "2020", "valid_from"),
        (204, 16, "永久", "valid_to"),
        (0, 30, "", "name"),
    ],
)
def test_text_block_errors_name_the_field_not_the_content(
    offset: int, size: int, text: str, field: str
) -> None:
    block = _patch(build_text_block(SAMPLE_RECORD), offset, size, text)
    with pytest.raises(TextBlockError) as info:
        parse_text_block(block)
    assert info.value.field == field
    for secret in (SAMPLE_RECORD.name, SAMPLE_RECORD.id_number, text or "-"):
        assert secret not in str(info.value) or secret == field


def test_text_block_rejects_wrong_length_and_lone_surrogates() -> None:
    with pytest.raises(TextBlockError):
        parse_text_block(bytes(255))
    block = build_text_block(SAMPLE_RECORD)
    with pytest.raises(TextBlockError):
        parse_text_block(b"\x00\xd8" + block[2:])


def test_build_rejects_fields_that_do_not_fit() -> None:
    with pytest.raises(TextBlockError):
        build_text_block(_with(SAMPLE_RECORD, name="很" * 16))
    with pytest.raises(TextBlockError):
        build_text_block(_with(SAMPLE_RECORD, nation="火星"))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=250, max_size=260) | st.binary(min_size=256, max_size=256))
def test_fuzz_text_block_raises_only_text_block_error(block: bytes) -> None:
    try:
        record = parse_text_block(block)
    except TextBlockError:
        return
    assert record.sex in {"男", "女"}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzz_mutated_text_block_raises_only_text_block_error(flips: list[tuple[int, int]]) -> None:
    block = bytearray(build_text_block(SAMPLE_RECORD))
    for pos, value in flips:
        block[pos] = value
    with contextlib.suppress(TextBlockError):
        parse_text_block(bytes(block))


names = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=15)


@settings(max_examples=100, deadline=None)
@given(names, st.sampled_from(sorted(NATIONS.values())), st.sampled_from(["长期", "20301231", ""]))
def test_fuzz_text_block_round_trip(name: str, nation: str, valid_to: str) -> None:
    record = _with(SAMPLE_RECORD, name=name, nation=nation, valid_to=valid_to)
    assert parse_text_block(build_text_block(record)) == record
