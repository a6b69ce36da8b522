"""Message ids (UUIDv7: time-ordered idempotency keys) and residents' receipt numbers."""

from __future__ import annotations

import datetime as dt
import re

import uuid6


def new_message_id() -> str:
    return str(uuid6.uuid7())


_RECEIPT = re.compile(r"^R(\d{8})-([A-Z0-9]{4})-(\d{6})-(\d)$")


def _luhn_digit(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def device_short(device_id: str) -> str:
    """Four characters that tell a site's machines apart on a receipt."""
    alnum = "".join(ch for ch in device_id.upper() if ch.isalnum())
    return (alnum[-4:]).rjust(4, "0")


def receipt_number(device_id: str, seq: int, when: dt.datetime) -> str:
    """``R{YYYYMMDD}-{DEV4}-{seq:06}-{check}``: unique per device and day, with a Luhn check digit
    over the date and sequence so a mistyped number is caught before a lookup."""
    date = when.strftime("%Y%m%d")
    seq6 = f"{seq % 1_000_000:06d}"
    return f"R{date}-{device_short(device_id)}-{seq6}-{_luhn_digit(date + seq6)}"


def is_receipt_number(text: str) -> bool:
    m = _RECEIPT.match(text)
    return bool(m) and _luhn_digit(m.group(1) + m.group(3)) == int(m.group(4))  # type: ignore[union-attr]
