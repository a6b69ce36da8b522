"""ESC/POS receipts as raw bytes, for the 58/80 mm thermal printers on Chinese kiosks.

:class:`Receipt` builds the byte stream (no third-party library: the commands are few and fixed):

=====================  ==================  =====================================================
command                bytes               use
=====================  ==================  =====================================================
initialise             ``ESC @``           reset modes at the start of every job
align                  ``ESC a n``         0 left, 1 centre, 2 right
bold                   ``ESC E n``
character size         ``GS ! n``          width/height multipliers (ASCII and, on most, Kanji)
Kanji print mode       ``FS ! n``          bit 2 double width, bit 3 double height (Kanji)
Chinese mode on/off    ``FS &`` / ``FS .`` double-byte text in between is GB18030 (GBK subset on
                                           older printers)
feed n lines           ``ESC d n``
QR code                ``GS ( k``          model 2, module size, error correction, store, print
cut                    ``GS V 66 n``       feed n dots and partial cut
status (real time)     ``DLE EOT n``       see :mod:`drivers.printer.backends`
=====================  ==================  =====================================================

:func:`render_text` interprets such a byte stream back into plain text (alignment applied, QR codes
shown as ``[QR] payload``): the file backend writes it next to the raw bytes for humans and tests.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

ESC = 0x1B
GS = 0x1D
FS = 0x1C
DLE = 0x10
EOT = 0x04
LF = 0x0A

INIT = b"\x1b@"
CHINESE_ON = b"\x1c&"
CHINESE_OFF = b"\x1c."

ALIGN = {"left": 0, "center": 1, "right": 2}
QR_EC = {"L": 48, "M": 49, "Q": 50, "H": 51}
QR_MAX_BYTES = 7089 - 3  # store-command payload limit less the 3 function bytes

# 58 mm paper, font A: 384 dots / 12 = 32 columns; 80 mm: 48 columns.
DEFAULT_WIDTH_CHARS = 32


def qr_commands(data: bytes, module_size: int = 6, ec: str = "M") -> bytes:
    """The ``GS ( k`` sequence that stores ``data`` in the symbol buffer and prints it (model 2)."""
    if not 1 <= module_size <= 16:
        raise ValueError("QR module size must be 1..16")
    if ec not in QR_EC:
        raise ValueError(f"QR error correction must be one of {sorted(QR_EC)}")
    if not data:
        raise ValueError("empty QR payload")
    if len(data) > QR_MAX_BYTES:
        raise ValueError(f"QR payload too long ({len(data)} bytes)")
    n = len(data) + 3
    return b"".join([
        b"\x1d(k\x04\x00\x31\x41\x32\x00",                   # fn 165: model 2
        b"\x1d(k\x03\x00\x31\x43" + bytes([module_size]),    # fn 167: module size
        b"\x1d(k\x03\x00\x31\x45" + bytes([QR_EC[ec]]),      # fn 169: error correction
        b"\x1d(k" + bytes([n & 0xFF, n >> 8]) + b"\x31\x50\x30" + data,  # fn 180: store
        b"\x1d(k\x03\x00\x31\x51\x30",                       # fn 181: print
    ])


def display_width(text: str) -> int:
    """Columns ``text`` takes on the printer: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@dataclass
class Receipt:
    """Fluent builder of one ESC/POS job. ``bytes(receipt)`` is the job.

    Text is sent in Chinese mode (``FS &``) and encoded with ``encoding`` (GB18030 by default; ASCII
    stays single-byte in it). Use ``encoding="gbk"`` for printers whose font has no GB18030
    four-byte characters; unencodable characters then print as ``?``.
    """

    encoding: str = "gb18030"
    width_chars: int = DEFAULT_WIDTH_CHARS
    _buf: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        "".encode(self.encoding)  # LookupError early for a misspelt codec

    def __bytes__(self) -> bytes:
        return bytes(self._buf)

    def raw(self, data: bytes) -> Receipt:
        self._buf += data
        return self

    def init(self) -> Receipt:
        """Reset the printer's modes and enter Chinese mode."""
        return self.raw(INIT + CHINESE_ON)

    def align(self, where: str) -> Receipt:
        if where not in ALIGN:
            raise ValueError(f"alignment must be one of {sorted(ALIGN)}")
        return self.raw(bytes([ESC, ord("a"), ALIGN[where]]))

    def bold(self, on: bool = True) -> Receipt:
        return self.raw(bytes([ESC, ord("E"), 1 if on else 0]))

    def size(self, width: int = 1, height: int = 1) -> Receipt:
        """Character magnification 1..8 (ESC/POS allows 8; 2x2 is the usual "double size")."""
        if not (1 <= width <= 8 and 1 <= height <= 8):
            raise ValueError("size multipliers must be 1..8")
        kanji = (0x04 if width > 1 else 0) | (0x08 if height > 1 else 0)
        return self.raw(bytes([GS, ord("!"), ((width - 1) << 4) | (height - 1), FS, ord("!"), kanji]))

    def text(self, text: str) -> Receipt:
        """Text without a line feed. Control characters other than newline are dropped."""
        clean = "".join(c for c in text if c == "\n" or unicodedata.category(c)[0] != "C")
        return self.raw(clean.encode(self.encoding, errors="replace"))

    def line(self, text: str = "") -> Receipt:
        return self.text(text).raw(b"\n")

    def rule(self, char: str = "-") -> Receipt:
        return self.line(char * max(1, self.width_chars // display_width(char)))

    def pair(self, left: str, right: str) -> Receipt:
        """``left`` and ``right`` on one line, padded apart; falls back to two lines if too long."""
        gap = self.width_chars - display_width(left) - display_width(right)
        if gap < 1:
            return self.line(left).line(right)
        return self.line(left + " " * gap + right)

    def feed(self, lines: int = 1) -> Receipt:
        return self.raw(bytes([ESC, ord("d"), max(0, min(255, lines))]))

    def qr(self, payload: str | bytes, module_size: int = 6, ec: str = "M") -> Receipt:
        """A QR code; text payloads are encoded UTF-8 (what phone scanners expect)."""
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        return self.raw(qr_commands(data, module_size, ec))

    def cut(self, feed_dots: int = 48) -> Receipt:
        """Feed to the cutter and partial-cut (``GS V 66 n``)."""
        return self.raw(bytes([GS, ord("V"), 66, max(0, min(255, feed_dots))]))


class EscPosParseError(ValueError):
    pass


def render_text(data: bytes, encoding: str = "gb18030", width_chars: int = DEFAULT_WIDTH_CHARS) -> str:
    """Interpret an ESC/POS byte stream into plain text (for the file backend, logs and tests).

    Understands every command :class:`Receipt` emits plus ``ESC !`` and ``DLE EOT``; raises
    :class:`EscPosParseError` on anything else, so a test notices when the builder emits garbage.
    Outside Chinese mode bytes >= 0x80 are shown as ``?``. A cut renders as a line of ``✂``.
    """
    return _TextRenderer(data, encoding, width_chars).render()


class _TextRenderer:
    """:func:`render_text`'s state: the stream, the position, the line being built and the printer's modes.
    Each ``_*`` method reads one command at ``self.i`` and moves past it."""

    def __init__(self, data: bytes, encoding: str, width_chars: int) -> None:
        self.data = data
        self.encoding = encoding
        self.width_chars = width_chars
        self.out: list[str] = []
        self.line = bytearray()
        self.align = 0
        self.chinese = False
        self.qr_store: bytes | None = None
        self.i = 0

    def render(self) -> str:
        data, n = self.data, len(self.data)
        while self.i < n:
            b = data[self.i]
            if b == LF:
                self._flush()
                self.i += 1
            elif b == ESC:
                self._esc()
            elif b == FS:
                self._fs()
            elif b == GS:
                self._gs()
            elif b == DLE:
                if self._need(3)[1] != EOT:
                    raise EscPosParseError(f"unknown DLE command at byte {self.i}")
                self.i += 3
            elif b < 0x20 and b not in (0x09, 0x0D):
                raise EscPosParseError(f"unexpected control byte 0x{b:02x} at byte {self.i}")
            else:
                self._text()
        if self.line:
            self._flush()
        return "\n".join(self.out) + "\n"

    def _flush(self) -> None:
        text = _decode(bytes(self.line), self.encoding, self.chinese)
        pad = self.width_chars - display_width(text)
        if self.align == 1 and pad > 0:
            text = " " * (pad // 2) + text
        elif self.align == 2 and pad > 0:
            text = " " * pad + text
        self.out.append(text.rstrip())
        self.line.clear()

    def _end_line(self) -> None:
        if self.line:
            self._flush()

    def _need(self, count: int) -> bytes:
        if self.i + count > len(self.data):
            raise EscPosParseError(f"truncated command at byte {self.i}")
        return self.data[self.i:self.i + count]

    def _text(self) -> None:
        """A text run: up to the next control byte (which never occurs inside a GB18030 character)."""
        data, j = self.data, self.i
        while j < len(data) and (data[j] >= 0x20 or data[j] in (0x09, 0x0D)):
            j += 1
        self.line += data[self.i:j]
        self.i = j

    def _esc(self) -> None:
        cmd = self._need(2)[1]
        if cmd == ord("@"):
            self.align, self.chinese = 0, False
            self.i += 2
            return
        if cmd not in (ord("a"), ord("E"), ord("!"), ord("d")):
            raise EscPosParseError(f"unknown ESC 0x{cmd:02x} at byte {self.i}")
        arg = self._need(3)[2]
        if cmd == ord("a"):
            self._end_line()
            self.align = {0: 0, 1: 1, 2: 2, 48: 0, 49: 1, 50: 2}.get(arg, 0)
        elif cmd == ord("d"):
            self._end_line()
            self.out.extend([""] * arg)
        self.i += 3

    def _fs(self) -> None:
        cmd = self._need(2)[1]
        if cmd in (ord("&"), ord(".")):
            self.chinese = cmd == ord("&")
            self.i += 2
        elif cmd == ord("!"):
            self._need(3)
            self.i += 3
        else:
            raise EscPosParseError(f"unknown FS 0x{cmd:02x} at byte {self.i}")

    def _gs(self) -> None:
        cmd = self._need(2)[1]
        if cmd == ord("!"):
            self._need(3)
            self.i += 3
        elif cmd == ord("V"):
            head = self._need(3)
            self.i += 4 if head[2] in (65, 66, 97, 98, 103, 104) else 3
            self._end_line()
            self.out.append("✂" * 8)
        elif cmd == ord("("):
            self._gs_2d_code()
        else:
            raise EscPosParseError(f"unknown GS 0x{cmd:02x} at byte {self.i}")

    def _gs_2d_code(self) -> None:
        """``GS ( k``: a QR code stored, then printed (shown as ``[QR] payload``)."""
        head = self._need(5)
        if head[2] != ord("k"):
            raise EscPosParseError(f"unknown GS ( 0x{head[2]:02x} at byte {self.i}")
        length = head[3] | (head[4] << 8)
        body = self._need(5 + length)[5:]
        if body[:3] == b"\x31\x50\x30":
            self.qr_store = body[3:]
        elif body[:3] == b"\x31\x51\x30":
            self._end_line()
            payload = self.qr_store.decode("utf-8", errors="replace") if self.qr_store else ""
            self.out.append(f"[QR] {payload}")
        self.i += 5 + length


def _decode(raw: bytes, encoding: str, chinese: bool) -> str:
    raw = raw.replace(b"\r", b"")
    if chinese:
        return raw.decode(encoding, errors="replace")
    return "".join(chr(c) if c < 0x80 else "?" for c in raw)
