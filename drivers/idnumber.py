"""Resident ID numbers (GB 11643-1999): check character, validation and parsing.

Error messages never contain the number. The region table (drivers/data/gb2260.csv) is the union of
the GB/T 2260 revisions 2002-2014 shipped by the ``GB2260`` package (BSD) and the newer codes shipped
by ``cpca`` (MIT), newest name winning; codes abolished before 2002 fall back to their prefecture
or province.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import importlib.resources
import io
from dataclasses import dataclass

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = dt.date(1800, 1, 1)

_MESSAGES = {
    "length": ("身份证号码应为18位", "ID number must have 18 characters"),
    "charset": ("身份证号码只能由数字和末位X组成", "ID number must be digits, last one may be X"),
    "birth_date": ("身份证号码中的出生日期无效", "birth date inside the ID number is invalid"),
    "check_char": ("身份证号码校验位错误", "ID number check character is wrong"),
}


class IdNumberError(ValueError):
    """An invalid ID number; ``reason`` is one of length, charset, birth_date, check_char."""

    def __init__(self, reason: str) -> None:
        zh, en = _MESSAGES[reason]
        super().__init__(f"{zh} / {en}")
        self.reason = reason


def check_char(first17: str) -> str:
    """The check character for the first 17 digits."""
    if len(first17) != 17:
        raise IdNumberError("length")
    if not first17.isascii() or not first17.isdigit():
        raise IdNumberError("charset")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def validate(number: str, *, today: dt.date | None = None) -> str:
    """Return the normalised number (upper-case X) or raise :class:`IdNumberError`."""
    if not isinstance(number, str):
        raise IdNumberError("charset")
    n = number.strip().upper()
    if len(n) != 18:
        raise IdNumberError("length")
    if not n.isascii() or not n[:17].isdigit() or not (n[17].isdigit() or n[17] == "X"):
        raise IdNumberError("charset")
    _birth_date(n, today or dt.date.today())
    if check_char(n[:17]) != n[17]:
        raise IdNumberError("check_char")
    return n


def is_valid(number: str) -> bool:
    """True when :func:`validate` accepts the number."""
    try:
        validate(number)
    except IdNumberError:
        return False
    return True


def _birth_date(n: str, today: dt.date) -> dt.date:
    try:
        born = dt.date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        raise IdNumberError("birth_date") from None
    if not EARLIEST_BIRTH <= born <= today:
        raise IdNumberError("birth_date")
    return born


@dataclass(frozen=True, repr=False)
class IdNumberInfo:
    """What an ID number says. Personal data: its repr hides everything."""

    number: str
    region_code: str
    region_name: str | None  # e.g. 北京市朝阳区; None when even the province is unknown
    region_exact: bool  # False when the county code was not found and a parent was used
    birth_date: dt.date
    sequence: int
    sex: str  # 男 / 女

    def age(self, on: dt.date | None = None) -> int:
        """Completed years of age on ``on`` (default today)."""
        d = on or dt.date.today()
        b = self.birth_date
        return d.year - b.year - ((d.month, d.day) < (b.month, b.day))

    def __repr__(self) -> str:
        return "IdNumberInfo(<personal data>)"


def parse(number: str, *, today: dt.date | None = None) -> IdNumberInfo:
    """Validate and split an ID number into region, birth date, sex."""
    n = validate(number, today=today)
    name, exact = region_lookup(n[:6])
    seq = int(n[14:17])
    return IdNumberInfo(
        number=n,
        region_code=n[:6],
        region_name=name,
        region_exact=exact,
        birth_date=_birth_date(n, today or dt.date.today()),
        sequence=seq,
        sex="男" if seq % 2 else "女",
    )


@functools.cache
def region_table() -> dict[str, str]:
    """Code -> name, loaded once from the shipped GB/T 2260 table."""
    res = importlib.resources.files("drivers.data").joinpath("gb2260.csv")
    text = res.read_text(encoding="utf-8")
    return {row["code"]: row["name"] for row in csv.DictReader(io.StringIO(text, newline=""))}


def region_name(code: str) -> str | None:
    """Full name (province + prefecture + county) of a 6-digit code, with fallback; None if unknown."""
    return region_lookup(code)[0]


def region_lookup(code: str) -> tuple[str | None, bool]:
    """(full name or None, whether the exact code was found)."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None, False
    table = region_table()
    province = table.get(code[:2] + "0000")
    if province is None:
        return None, False
    parts = [province]
    prefecture = table.get(code[:4] + "00")
    if prefecture is not None and code[2:4] != "00":
        parts.append(prefecture)
    county = table.get(code)
    if county is not None and code[4:] != "00":
        parts.append(county)
    return "".join(parts), code in table
