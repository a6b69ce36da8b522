"""Payload text from raw symbol bytes.

Decoders disagree about text: zbar guesses Shift-JIS/Latin-1/Big5 before UTF-8 and knows no GBK,
zxing-cpp falls back to Latin-1 (or Shift-JIS) for byte segments without ECI, OpenCV converts
non-UTF-8 bytes from Latin-1. So every engine here hands over the *raw bytes* of the symbol and
this module decides the text, once, the same way for all of them:

1. An ECI in the symbol wins (e.g. 26 = UTF-8, 29/31/32 = GB2312/GBK/GB18030, 3 = ISO-8859-1,
   899 = binary), as long as the bytes decode in that charset.
2. Otherwise UTF-8, if the bytes are valid UTF-8 and the text is printable.
3. Otherwise GB18030 (a superset of GBK and GB2312), if the bytes decode cleanly and the text
   looks like text: printable, no private-use or unassigned code points.
4. Otherwise ISO-8859-1, but only when every character is printable.
5. Otherwise the payload is binary: ``text`` and ``charset`` are None; the bytes stay bytes.

"Printable" allows tab, CR, LF and the separators GS/RS/EOT that GS1 and ISO/IEC 15434 payloads use.
"""

from __future__ import annotations

import unicodedata

# ECI assignment number -> Python codec (AIM ECI specification).
ECI_CHARSETS: dict[int, str] = {
    0: "cp437",
    1: "iso-8859-1",
    2: "cp437",
    3: "iso-8859-1",
    4: "iso-8859-2",
    5: "iso-8859-3",
    6: "iso-8859-4",
    7: "iso-8859-5",
    8: "iso-8859-6",
    9: "iso-8859-7",
    10: "iso-8859-8",
    11: "iso-8859-9",
    12: "iso-8859-10",
    13: "iso-8859-11",
    15: "iso-8859-13",
    16: "iso-8859-14",
    17: "iso-8859-15",
    18: "iso-8859-16",
    20: "shift_jis",
    21: "cp1250",
    22: "cp1251",
    23: "cp1252",
    24: "cp1256",
    25: "utf-16-be",
    26: "utf-8",
    27: "ascii",
    28: "big5",
    29: "gb18030",  # GB2312; GB18030 is a superset and decodes it identically
    30: "euc-kr",
    31: "gb18030",  # GBK
    32: "gb18030",
    33: "utf-16-le",
    34: "utf-32-be",
    35: "utf-32-le",
    170: "ascii",  # ISO/IEC 646 invariant
}
ECI_BINARY = 899

_ALLOWED_CONTROLS = frozenset("\t\n\r\x1d\x1e\x04")
_BAD_CATEGORIES = frozenset({"Cc", "Co", "Cn", "Cs"})


def is_printable_text(text: str) -> bool:
    """True if ``text`` contains no control (except a few separators), private-use or unassigned
    characters. Cheap for ASCII."""
    for ch in text:
        if " " <= ch <= "~" or ch in _ALLOWED_CONTROLS:
            continue
        cat = unicodedata.category(ch)
        if cat in _BAD_CATEGORIES:
            return False
        if ch == "\ufffd":
            return False
    return True


def decode_text(raw: bytes, eci: int | None = None) -> tuple[str | None, str | None]:
    """Return ``(text, charset)`` for ``raw``; ``(None, None)`` for a binary payload.

    ``eci`` is the ECI assignment number found in the symbol, or None when the symbol had none.
    """
    if eci == ECI_BINARY:
        return None, None
    if eci is not None:
        codec = ECI_CHARSETS.get(eci)
        if codec is not None:
            try:
                text = raw.decode(codec)
            except (UnicodeDecodeError, LookupError):
                pass  # the ECI lies (it happens); fall back to guessing
            else:
                if is_printable_text(text):
                    return text, codec
    return guess_text(raw)


def guess_text(raw: bytes) -> tuple[str | None, str | None]:
    """Decode bytes of unknown charset: UTF-8, then GB18030, then printable Latin-1, else binary."""
    if not raw:
        return "", "utf-8"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if text.startswith("\ufeff"):
            text = text[1:]
        return (text, "utf-8") if is_printable_text(text) else (None, None)
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        if is_printable_text(text) and _looks_chinese(text):
            return text, "gb18030"
    text = raw.decode("iso-8859-1")
    if is_printable_text(text) and not any("\x80" <= ch <= "\x9f" for ch in text):
        return text, "iso-8859-1"
    return None, None


def _looks_chinese(text: str) -> bool:
    """GB18030 decodes many byte strings; accept it only if most non-ASCII characters are common
    CJK characters, CJK punctuation or full-width forms (what GBK text is made of)."""
    non_ascii = [ch for ch in text if ord(ch) > 0x7F]
    if not non_ascii:
        return True
    common = sum(
        1
        for ch in non_ascii
        if "\u4e00" <= ch <= "\u9fff"
        or "\u3000" <= ch <= "\u303f"
        or "\uff00" <= ch <= "\uffef"
        or "\u2000" <= ch <= "\u206f"
        or "\u3400" <= ch <= "\u4dbf"
    )
    return common / len(non_ascii) >= 0.8


def parse_eci_bytes(data: bytes) -> tuple[str | None, list[tuple[int | None, bytes]]]:
    """Split zxing-cpp's ``bytesECI`` form into ``(symbology_identifier, [(eci, segment), ...])``.

    The form is the AIM symbology identifier (``]Q1`` / ``]Q2`` ...) followed by the data; when
    the identifier's modifier says ECI is in use, ``\\NNNNNN`` marks an ECI designator and a
    literal backslash is doubled. Without ECI the whole payload is one segment with ``eci=None``.
    """
    sym: str | None = None
    body = data
    if len(data) >= 3 and data[:1] == b"]":
        sym = data[:3].decode("ascii", "replace")
        body = data[3:]
    if sym is None or not _eci_modifier(sym):
        return sym, [(None, body)]
    segments: list[tuple[int | None, bytes]] = []
    current = bytearray()
    eci: int | None = None
    i = 0
    n = len(body)
    while i < n:
        b = body[i]
        if b == 0x5C:  # backslash
            if i + 1 < n and body[i + 1] == 0x5C:
                current.append(0x5C)
                i += 2
                continue
            digits = body[i + 1:i + 7]
            if len(digits) == 6 and digits.isdigit():
                if current or eci is not None:
                    segments.append((eci, bytes(current)))
                current = bytearray()
                eci = int(digits)
                i += 7
                continue
        current.append(b)
        i += 1
    segments.append((eci, bytes(current)))
    return sym, segments


def _eci_modifier(sym: str) -> bool:
    """True if the AIM symbology identifier says the data uses the ECI protocol."""
    code, mod = sym[1:2], sym[2:3]
    if code == "Q":  # QR: 2, 4, 6 = ECI
        return mod in ("2", "4", "6")
    if code == "d":  # Data Matrix: 4, 5, 6 = ECI
        return mod in ("4", "5", "6")
    if code == "L":  # PDF417: 1 = ECI
        return mod == "1"
    if code == "z":  # Aztec: 3, 4, 5 = ECI
        return mod in ("3", "4", "5")
    return False


def decode_segments(segments: list[tuple[int | None, bytes]]) -> tuple[bytes, str | None, str | None]:
    """Return ``(raw, text, charset)`` for ECI segments (see ``parse_eci_bytes``)."""
    raw = b"".join(seg for _, seg in segments)
    ecis = {eci for eci, seg in segments if seg}
    if len(ecis) <= 1:
        eci = next(iter(ecis), None)
        text, charset = decode_text(raw, eci)
        return raw, text, charset
    # Several charsets in one symbol: decode each segment with its own ECI.
    parts: list[str] = []
    for eci, seg in segments:
        text, _ = decode_text(seg, eci)
        if text is None:
            return raw, None, None
        parts.append(text)
    return raw, "".join(parts), "eci-mixed"
