"""ICAO 9303 machine-readable zones: TD1 (3 x 30), TD2 (2 x 36), TD3 (2 x 44).

:func:`parse` is exact: every character must be ``A-Z 0-9 <``, every line the right length, and every
check digit (7-3-1 weights; document number, birth date, expiry date, TD3 optional data, composite)
must match. Its only exception is :class:`MrzError`, whose message names the failing part, never the
data. The name field carries no check digit, so :attr:`MrzRecord.names_need_confirmation` is always
True: show the names on screen for the holder to confirm.

:func:`read_mrz` OCRs an MRZ band with an :class:`~drivers.ocr.engine.OcrEngine`, cleans the lines
(``«`` and look-alikes to ``<``, spaces dropped, letters in digit-only fields mapped to digits) and then
parses strictly: OCR may only find a reading whose check digits already agree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from drivers.ocr.engine import OcrEngine, default_engine

ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
WEIGHTS = (7, 3, 1)
FORMATS = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44)}

_REASONS = {
    "type": "MRZ input must be text",
    "format": "MRZ has the wrong number or length of lines",
    "charset": "MRZ contains characters outside A-Z 0-9 <",
    "document_number": "MRZ document number check digit is wrong",
    "birth_date": "MRZ birth date check digit is wrong",
    "expiry_date": "MRZ expiry date check digit is wrong",
    "optional_data": "MRZ optional data check digit is wrong",
    "composite": "MRZ composite check digit is wrong",
    "check_digit": "MRZ check digit is not a digit",
    "no_mrz": "no machine-readable zone was found in the image",
}
_REASONS_ZH = {
    "type": "机读码格式错误", "format": "机读码行数或长度错误", "charset": "机读码含有非法字符",
    "document_number": "证件号码校验位错误", "birth_date": "出生日期校验位错误", "expiry_date": "有效期校验位错误",
    "optional_data": "可选数据校验位错误", "composite": "综合校验位错误", "check_digit": "校验位不是数字",
    "no_mrz": "未找到机读码",
}


class MrzError(ValueError):
    """Invalid or unreadable MRZ; ``reason`` is a key of ``_REASONS``. Never carries the MRZ text."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{_REASONS_ZH[reason]} / {_REASONS[reason]}")
        self.reason = reason


def char_value(c: str) -> int:
    if c.isdigit():
        return ord(c) - 48
    if "A" <= c <= "Z":
        return ord(c) - 55
    if c == "<":
        return 0
    raise MrzError("charset")


def check_digit(field: str) -> str:
    """The ICAO 9303 check digit (7-3-1 weights, mod 10) of a field."""
    return str(sum(char_value(c) * WEIGHTS[i % 3] for i, c in enumerate(field)) % 10)


def _verify(field: str, digit: str, reason: str, *, filler_ok: bool = False) -> None:
    if filler_ok and digit == "<" and set(field) <= {"<"}:
        return
    if not digit.isdigit() or not digit.isascii():
        raise MrzError("check_digit" if reason != "composite" else "composite")
    if check_digit(field) != digit:
        raise MrzError(reason)


@dataclass(frozen=True, repr=False)
class MrzRecord:
    """A parsed MRZ. Dates are YYMMDD as printed; ``sex`` is M, F or X (``<`` is reported as X)."""

    format: str  # TD1 / TD2 / TD3
    document_code: str  # e.g. P, PO, I, ID, AC, C (fillers stripped)
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: str
    sex: str
    expiry_date: str
    optional_data: str
    optional_data_2: str = ""
    names_need_confirmation: bool = True  # the name field has no check digit
    names_truncated: bool = False  # the name field is full: the printed name may be longer

    def __repr__(self) -> str:
        return f"MrzRecord({self.format}, <personal data>)"

    def birth(self, today: dt.date | None = None) -> dt.date | None:
        """The birth date, taking the century that puts it in the past; None when not a real date."""
        d = _yymmdd(self.birth_date)
        if d is None:
            return None
        t = today or dt.date.today()
        y = 2000 + d[0]
        if (y, d[1], d[2]) > (t.year, t.month, t.day):
            y -= 100
        return _date(y, d[1], d[2])

    def expiry(self) -> dt.date | None:
        """The expiry date (20YY); None when not a real date."""
        d = _yymmdd(self.expiry_date)
        return None if d is None else _date(2000 + d[0], d[1], d[2])


def _yymmdd(s: str) -> tuple[int, int, int] | None:
    if len(s) != 6 or not s.isdigit():
        return None
    return int(s[:2]), int(s[2:4]), int(s[4:])


def _date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _strip(s: str) -> str:
    return s.rstrip("<")


def _names(field: str) -> tuple[str, str, bool]:
    truncated = not field.endswith("<")
    core = field.rstrip("<")
    if "<<" in core:
        sur, given = core.split("<<", 1)
    else:
        sur, given = core, ""
    return sur.replace("<", " ").strip(), given.replace("<", " ").strip(), truncated


def _sex(c: str) -> str:
    return "X" if c == "<" else c


def _split_lines(mrz: str | Sequence[str]) -> list[str]:
    if isinstance(mrz, str):
        parts = mrz.split()
    elif isinstance(mrz, Sequence) and all(isinstance(x, str) for x in mrz):
        parts = [x.strip() for x in mrz]
    else:
        raise MrzError("type")
    return [p for p in parts if p]


def detect_format(lines: Sequence[str]) -> str:
    for fmt, (n, length) in FORMATS.items():
        if len(lines) == n and all(len(x) == length for x in lines):
            return fmt
    raise MrzError("format")


def parse(mrz: str | Sequence[str]) -> MrzRecord:
    """Parse and verify an MRZ given as lines or one string with line breaks. Raises MrzError only."""
    lines = _split_lines(mrz)
    fmt = detect_format(lines)
    for line in lines:
        if not set(line) <= ALPHABET:
            raise MrzError("charset")
    if fmt == "TD3":
        return _parse_td3(lines)
    if fmt == "TD2":
        return _parse_td2(lines)
    return _parse_td1(lines)


def _long_number(number9: str, check: str, optional: str) -> tuple[str, str, str]:
    """Document numbers longer than 9 characters (TD1/TD2): the check-digit position holds '<' and the
    rest of the number, then its check digit, start the optional data. Returns (number, check digit,
    remaining optional data)."""
    if check != "<" or number9.endswith("<"):
        return number9, check, optional
    m = re.match(r"([A-Z0-9]*?)([0-9])(<|$)", optional)
    if m is None or not m.group(1) + m.group(2):
        raise MrzError("document_number")
    return number9 + m.group(1), m.group(2), optional[m.end(2):]


def _parse_td3(lines: list[str]) -> MrzRecord:
    l1, l2 = lines
    number, ncheck = l2[0:9], l2[9]
    _verify(number, ncheck, "document_number")
    _verify(l2[13:19], l2[19], "birth_date")
    _verify(l2[21:27], l2[27], "expiry_date")
    _verify(l2[28:42], l2[42], "optional_data", filler_ok=True)
    _verify(l2[0:10] + l2[13:20] + l2[21:43], l2[43], "composite")
    sur, given, trunc = _names(l1[5:44])
    return MrzRecord(
        format="TD3", document_code=_strip(l1[0:2]), issuing_state=_strip(l1[2:5]), surname=sur,
        given_names=given, document_number=_strip(number), nationality=_strip(l2[10:13]),
        birth_date=l2[13:19], sex=_sex(l2[20]), expiry_date=l2[21:27], optional_data=_strip(l2[28:42]),
        names_truncated=trunc,
    )


def _parse_td2(lines: list[str]) -> MrzRecord:
    l1, l2 = lines
    number, ncheck, optional = _long_number(l2[0:9], l2[9], l2[28:35])
    _verify(number, ncheck, "document_number")
    _verify(l2[13:19], l2[19], "birth_date")
    _verify(l2[21:27], l2[27], "expiry_date")
    _verify(l2[0:10] + l2[13:20] + l2[21:35], l2[35], "composite")
    sur, given, trunc = _names(l1[5:36])
    return MrzRecord(
        format="TD2", document_code=_strip(l1[0:2]), issuing_state=_strip(l1[2:5]), surname=sur,
        given_names=given, document_number=_strip(number), nationality=_strip(l2[10:13]),
        birth_date=l2[13:19], sex=_sex(l2[20]), expiry_date=l2[21:27], optional_data=_strip(optional),
        names_truncated=trunc,
    )


def _parse_td1(lines: list[str]) -> MrzRecord:
    l1, l2, l3 = lines
    number, ncheck, optional = _long_number(l1[5:14], l1[14], l1[15:30])
    _verify(number, ncheck, "document_number")
    _verify(l2[0:6], l2[6], "birth_date")
    _verify(l2[8:14], l2[14], "expiry_date")
    _verify(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29], "composite")
    sur, given, trunc = _names(l3)
    return MrzRecord(
        format="TD1", document_code=_strip(l1[0:2]), issuing_state=_strip(l1[2:5]), surname=sur,
        given_names=given, document_number=_strip(number), nationality=_strip(l2[15:18]),
        birth_date=l2[0:6], sex=_sex(l2[7]), expiry_date=l2[8:14], optional_data=_strip(optional),
        optional_data_2=_strip(l2[18:29]), names_truncated=trunc,
    )


# --- composing (tests, self-test, benchmark) --------------------------------------------------

def _field(s: str, n: int) -> str:
    s = s.upper().replace(" ", "<")
    if len(s) > n or not set(s) <= ALPHABET:
        raise MrzError("format")
    return s + "<" * (n - len(s))


def _name_field(surname: str, given: str, n: int) -> str:
    raw = surname.upper().replace(" ", "<")
    if given:
        raw += "<<" + given.upper().replace(" ", "<")
    return _field(raw[:n], n)


def compose_td3(*, code: str = "P", state: str, surname: str, given_names: str, number: str,
                nationality: str, birth: str, sex: str, expiry: str, optional: str = "") -> list[str]:
    """Two 44-character lines with correct check digits."""
    l1 = _field(code, 2) + _field(state, 3) + _name_field(surname, given_names, 39)
    num = _field(number, 9)
    opt = _field(optional, 14)
    opt_check = "<" if set(opt) == {"<"} else check_digit(opt)
    body = num + check_digit(num) + _field(nationality, 3) + birth + check_digit(birth) + _field(sex, 1)
    body += expiry + check_digit(expiry) + opt + opt_check
    composite = check_digit(body[0:10] + body[13:20] + body[21:43])
    return [l1, body + composite]


def compose_td2(*, code: str = "I", state: str, surname: str, given_names: str, number: str,
                nationality: str, birth: str, sex: str, expiry: str, optional: str = "") -> list[str]:
    l1 = _field(code, 2) + _field(state, 3) + _name_field(surname, given_names, 31)
    num = _field(number, 9)
    body = num + check_digit(num) + _field(nationality, 3) + birth + check_digit(birth) + _field(sex, 1)
    body += expiry + check_digit(expiry) + _field(optional, 7)
    return [l1, body + check_digit(body[0:10] + body[13:20] + body[21:35])]


def compose_td1(*, code: str = "I", state: str, surname: str, given_names: str, number: str,
                nationality: str, birth: str, sex: str, expiry: str, optional: str = "",
                optional_2: str = "") -> list[str]:
    num = _field(number, 9)
    l1 = _field(code, 2) + _field(state, 3) + num + check_digit(num) + _field(optional, 15)
    l2 = birth + check_digit(birth) + _field(sex, 1) + expiry + check_digit(expiry) + _field(nationality, 3)
    l2 += _field(optional_2, 11)
    l2 += check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    return [l1, l2, _name_field(surname, given_names, 30)]


# --- OCR --------------------------------------------------------------------------------------

_LT = str.maketrans({"«": "<<", "‹": "<", "〈": "<", "＜": "<", "≤": "<", "(": "<", "[": "<", "{": "<",
                     "€": "<"})
_DIGITS = str.maketrans("OQDIlLZSBGT", "00011125867")
_LETTERS = str.maketrans("0125867", "OIZSBGT")

# Positions (per line) that hold only digits: dates and check digits; letters there are OCR confusions.
_NUMERIC: dict[str, tuple[tuple[int, ...], ...]] = {
    "TD3": ((), (9, *range(13, 20), *range(21, 28), 42, 43)),
    "TD2": ((), (9, *range(13, 20), *range(21, 28), 35)),
    "TD1": ((14,), (*range(0, 7), *range(8, 15), 29), ()),
}
# Positions that hold only letters or fillers: document code, states, names.
_ALPHA: dict[str, tuple[tuple[int, ...], ...]] = {
    "TD3": ((*range(0, 44),), (10, 11, 12)),
    "TD2": ((*range(0, 36),), (10, 11, 12)),
    "TD1": ((0, 1, 2, 3, 4), (15, 16, 17), (*range(0, 30),)),
}


def clean_line(text: str) -> str:
    """Upper-case A-Z 0-9 < only, with « and look-alikes of < mapped and spaces dropped."""
    t = text.translate(_LT).upper()
    return "".join(ch for ch in t if ch in ALPHABET)


def _fit(line: str, length: int) -> str:
    """Pad a short OCR line with trailing fillers (trailing '<' runs are often read short)."""
    if len(line) < length:
        return line + "<" * (length - len(line))
    if len(line) > length and set(line[length:]) <= {"<"}:
        return line[:length]
    return line


def repair(lines: Sequence[str]) -> list[str] | None:
    """OCR lines cleaned and fitted to a format, letters in digit-only positions mapped to digits."""
    cleaned = [clean_line(x) for x in lines]
    cleaned = [x for x in cleaned if len(x) >= 20]
    for fmt, (n, length) in FORMATS.items():
        if len(cleaned) != n:
            continue
        fitted = [_fit(x, length) for x in cleaned]
        if not all(len(x) == length for x in fitted):
            continue
        out = []
        for line, numeric, alpha in zip(fitted, _NUMERIC[fmt], _ALPHA[fmt], strict=True):
            chars = list(line)
            for i in numeric:
                chars[i] = chars[i].translate(_DIGITS)
            for i in alpha:
                chars[i] = chars[i].translate(_LETTERS)
            out.append("".join(chars))
        return out
    return None


def split_rows(band: np.ndarray) -> list[np.ndarray]:
    """Crop the text rows of an MRZ band by horizontal projection of dark pixels."""
    gray = cv2.cvtColor(band, cv2.COLOR_BGR2GRAY) if band.ndim == 3 else band
    _, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    prof = (bw > 0).sum(axis=1)
    on = prof > max(3, 0.04 * bw.shape[1])
    rows: list[tuple[int, int]] = []
    start = None
    for y, v in enumerate(on):
        if v and start is None:
            start = y
        elif not v and start is not None:
            rows.append((start, y))
            start = None
    if start is not None:
        rows.append((start, len(on)))
    rows = [r for r in rows if r[1] - r[0] >= 6]
    if not rows:
        return []
    h = max(r[1] - r[0] for r in rows)
    rows = [r for r in rows if r[1] - r[0] >= 0.4 * h]
    pad = max(3, h // 3)
    return [band[max(0, a - pad):min(band.shape[0], b + pad)] for a, b in rows]


def read_mrz_lines(band: np.ndarray, engine: OcrEngine | None = None) -> list[str]:
    """Raw OCR text of each MRZ row in a band image (row crops, recognition only)."""
    eng = engine or default_engine()
    return [eng.recognize_line(row)[0] for row in split_rows(band)]


def read_mrz(band: np.ndarray, engine: OcrEngine | None = None) -> MrzRecord:
    """OCR an MRZ band (the 2 or 3 lines, roughly level) and parse it strictly. Raises MrzError."""
    eng = engine or default_engine()
    raw = read_mrz_lines(band, eng)
    fixed = repair(raw)
    if fixed is None:
        # Row splitting can fail on a tilted band: fall back to detection + recognition.
        lines = sorted(eng.recognize(band), key=lambda ln: ln.cy)
        fixed = repair([ln.text for ln in lines])
    if fixed is None:
        raise MrzError("no_mrz")
    return parse(fixed)
