"""The receipt number the outbox issues is the one a receipt QR scan parses."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from drivers.codes.payloads import ReceiptNumber, make_receipt_number, parse_payload
from sync.protocol.ids import device_short, is_receipt_number, receipt_number


@given(device=st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True), seq=st.integers(0, 999_999),
       day=st.dates(dt.date(2020, 1, 1), dt.date(2099, 12, 31)))
def test_issued_receipts_parse_at_the_scanner(device: str, seq: int, day: dt.date) -> None:
    when = dt.datetime.combine(day, dt.time(12))
    issued = receipt_number(device, seq, when)
    assert is_receipt_number(issued)
    assert issued == make_receipt_number(day, device_short(device), seq)
    parsed = parse_payload(issued)
    assert isinstance(parsed, ReceiptNumber) and parsed.sequence == seq
