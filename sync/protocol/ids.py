"""Message ids (UUIDv7: time-ordered idempotency keys) and residents' receipt numbers."""

from __future__ import annotations

import datetime as dt
import re

import uuid6


def new_message_id() -> str:
    return str(uuid6.uuid7())


# Receipt numbers: ``KR-{YYYYMMDD}-{DEV4}-{seq:06}-{check}``. The check character covers the 18
# characters date+device+sequence (base-36 values, GB 11643 weights, mod 11, ``10X98765432``), so a
# mistyped number is caught before a lookup. drivers.codes.payloads parses the same format from a
# receipt's QR (tests/test_receipts.py holds the two to each other).
_RECEIPT = re.compile(r"^KR-(\d{8})-([0-9A-Z]{4})-(\d{6})-([0-9X])$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2, 1)
_CHECK = "10X98765432"


def _check_char(body: str) -> str:
    return _CHECK[sum(int(c, 36) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


def device_short(device_id: str) -> str:
    """Four characters that tell a site's machines apart on a receipt."""
    alnum = "".join(ch for ch in device_id.upper() if ch.isascii() and ch.isalnum())
    return (alnum[-4:]).rjust(4, "0")


def receipt_number(device_id: str, seq: int, when: dt.datetime) -> str:
    body = f"{when:%Y%m%d}{device_short(device_id)}{seq % 1_000_000:06d}"
    return f"KR-{body[:8]}-{body[8:12]}-{body[12:]}-{_check_char(body)}"


def is_receipt_number(text: str) -> bool:
    m = _RECEIPT.match(text)
    return m is not None and _check_char(m.group(1) + m.group(2) + m.group(3)) == m.group(4)
