"""Envelopes, sealing, topics, ids and masking: round trips, and bad input rejected cleanly."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.protocol import topics
from sync.protocol.envelope import Ack, Envelope, EnvelopeError
from sync.protocol.ids import is_receipt_number, new_message_id, receipt_number
from sync.protocol.masking import mask_field, mask_id_number, mask_name, mask_phone
from sync.protocol.sealing import SealError, SealKeyPair, open_sealed, seal

KEYS = SealKeyPair.generate()


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=4096), aad=st.binary(max_size=64))
def test_seal_round_trip(plaintext: bytes, aad: bytes) -> None:
    assert open_sealed(KEYS.private_raw, seal(KEYS.public_raw, plaintext, aad), aad) == plaintext


def test_sealed_blob_hides_the_plaintext_and_differs_each_time() -> None:
    secret = "110105194912310021 张三".encode()
    a, b = seal(KEYS.public_raw, secret), seal(KEYS.public_raw, secret)
    assert secret not in a and a != b


def test_seal_refuses_tampering_wrong_key_and_moved_payload() -> None:
    blob = bytearray(seal(KEYS.public_raw, b"payload", b"id-1"))
    with pytest.raises(SealError):
        open_sealed(KEYS.private_raw, blob, b"id-2")  # moved to another message
    other = SealKeyPair.generate()
    with pytest.raises(SealError, match="another key"):
        open_sealed(other.private_raw, bytes(blob), b"id-1")
    blob[-1] ^= 1
    with pytest.raises(SealError):
        open_sealed(KEYS.private_raw, bytes(blob), b"id-1")
    with pytest.raises(SealError):
        open_sealed(KEYS.private_raw, b"KS1short", b"")


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=2048))
def test_open_sealed_rejects_garbage_with_seal_error_only(data: bytes) -> None:
    with pytest.raises(SealError):
        open_sealed(KEYS.private_raw, data)


def _envelope(**kw: object) -> Envelope:
    base: dict[str, object] = dict(id=new_message_id(), seq=7, device_id="k-01", kind="submission",
                                   created_at=1.5, meta={"service_code": "MZ-LNYD-001", "receipt_no": "KR-1"},
                                   sealed=b"\x00\x01")
    base.update(kw)
    return Envelope(**base)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(seq=st.integers(0, 2**40), sealed=st.binary(max_size=512), code=st.text(max_size=30),
       kind=st.sampled_from(["submission", "attachment", "event", "telemetry"]))
def test_envelope_round_trip(seq: int, sealed: bytes, code: str, kind: str) -> None:
    env = _envelope(seq=seq, sealed=sealed, meta={"service_code": code, "n": [1, 2]}, kind=kind)
    assert Envelope.from_bytes(env.to_bytes()) == env


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(st.binary(max_size=300),
                      st.dictionaries(st.text(max_size=10), st.one_of(st.none(), st.integers(), st.text(max_size=5)))
                      .map(lambda d: json.dumps(d).encode())))
def test_envelope_rejects_garbage_with_envelope_error_only(data: bytes) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.from_bytes(data)


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("id"),
    lambda d: d.update(v=2),
    lambda d: d.update(seq="7"),
    lambda d: d.update(seq=True),
    lambda d: d.update(seq=-1),
    lambda d: d.update(device_id="../x"),
    lambda d: d.update(sealed="not base64!"),
    lambda d: d.update(id=""),
    lambda d: d.update(kind="cmd"),
    lambda d: d.update(meta=[]),
    lambda d: d.update(meta={"x": "y" * 20_000}),
])
def test_envelope_field_errors(mutate: object) -> None:
    d = json.loads(_envelope().to_bytes())
    mutate(d)  # type: ignore[operator]
    with pytest.raises(EnvelopeError):
        Envelope.from_bytes(json.dumps(d).encode())


def test_envelope_size_limit() -> None:
    with pytest.raises(EnvelopeError, match="too large"):
        Envelope.from_bytes(b" " * (600 * 1024))


def test_ack_round_trip_and_garbage() -> None:
    ack = Ack(("a", "b"), (("c", "bad seal"),))
    assert Ack.from_bytes(ack.to_bytes()) == ack
    for bad in (b"", b"[]", b'{"ids": 3}', b"\xff"):
        with pytest.raises(EnvelopeError):
            Ack.from_bytes(bad)


def test_topics() -> None:
    assert topics.up("k-01", "submission") == "kiosk/v1/k-01/up/submission"
    assert topics.parse("kiosk/v1/k-01/down/ack") == topics.Topic("k-01", "down", "ack")
    for bad in ("kiosk/v1/k-01/up/nope", "kiosk/v2/k/up/status", "kiosk/v1/+/up/status", "x"):
        with pytest.raises(topics.TopicError):
            topics.parse(bad)
    with pytest.raises(topics.TopicError):
        topics.up("a/b", "status")


def test_receipt_numbers_carry_a_check_digit() -> None:
    r = receipt_number("demo-kiosk-01", 42, dt.datetime(2026, 11, 27))
    assert r.startswith("KR-20261127-SK01-000042-")
    assert is_receipt_number(r)
    for i in (3, 12, 17, 20):  # a digit mistyped in the date, device or sequence
        wrong = r[:i] + ("1" if r[i] != "1" else "2") + r[i + 1:]
        assert not is_receipt_number(wrong)
    assert not is_receipt_number("R2026-xx")


def test_message_ids_are_time_ordered() -> None:
    ids = [new_message_id() for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_masking() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_field("address", "北京市朝阳区某街道1号") == "*" * 11
    assert mask_field("unknown", None) == ""
    # Never more than the first 6 and last 4 characters of an ID number.
    masked = mask_id_number("440524188001010014")
    assert masked[6:-4] == "*" * 8
