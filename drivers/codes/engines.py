"""Decoding engines behind one small interface: ``engine.decode(gray) -> list[DecodedCode]``.

Every engine returns the symbol's *raw bytes* and lets :mod:`drivers.codes.charset` decide the
text, so a GBK payload reads the same whatever engine found it.

- :class:`ZxingEngine` (zxing-cpp 3.x): fast and the best reader; restricted to the formats asked
  for, because all-formats mode is ~6x slower and very slow on noise. Read with
  ``TextMode.HexECI`` so one call gives both the raw bytes and the ECI designators.
- :class:`ZbarEngine` (pyzbar/libzbar >= 0.23.1): with ``ZBAR_CFG_BINARY`` set through pyzbar's
  ctypes wrapper, zbar returns raw bytes instead of its charset guess. It reads only the first
  channel of an array, so it is always given grayscale. No PDF417 (zbar's does not work).
- :class:`OpenCVEngine` (``QRCodeDetectorAruco`` or the plain ``QRCodeDetector``): returns bytes
  that OpenCV converted from Latin-1 when they were not UTF-8; the rectified module grid it also
  returns is re-read with zxing-cpp (exact bytes and ECI), and only if that fails the Latin-1
  conversion is reversed.

Engines keep no per-call state, so one instance may be shared by threads.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Sequence
from typing import Any, Protocol

import cv2
import numpy as np
import zxingcpp

from drivers.codes.charset import decode_segments, decode_text, parse_eci_bytes
from drivers.interfaces import DecodedCode

Quad = tuple[tuple[int, int], ...]

QR_FORMATS = (zxingcpp.BarcodeFormat.QRCode,)
MATRIX_FORMATS = (
    zxingcpp.BarcodeFormat.QRCode,
    zxingcpp.BarcodeFormat.PDF417,
    zxingcpp.BarcodeFormat.DataMatrix,
)
STILL_FORMATS = (
    zxingcpp.BarcodeFormat.QRCode,
    zxingcpp.BarcodeFormat.PDF417,
    zxingcpp.BarcodeFormat.DataMatrix,
    zxingcpp.BarcodeFormat.AllLinear,
)

# pyzbar symbology names -> the zxing-cpp format names this package reports.
_ZBAR_FORMATS = {
    "QRCODE": "QRCode",
    "EAN13": "EAN13",
    "EAN8": "EAN8",
    "UPCA": "UPCA",
    "UPCE": "UPCE",
    "ISBN10": "EAN13",
    "ISBN13": "EAN13",
    "I25": "ITF",
    "CODE39": "Code39",
    "CODE93": "Code93",
    "CODE128": "Code128",
    "CODABAR": "Codabar",
    "DATABAR": "DataBar",
    "DATABAR_EXP": "DataBarExp",
}


class Engine(Protocol):
    name: str

    def decode(self, gray: np.ndarray) -> list[DecodedCode]:
        """Decode every code in a 2-D uint8 image."""
        ...


def _zxing_code(b: Any, offset: tuple[float, float] = (0.0, 0.0), scale: float = 1.0) -> DecodedCode:
    """DecodedCode from a zxing-cpp Barcode read with ``TextMode.HexECI``."""
    raw = bytes(b.bytes)
    text: str | None
    charset: str | None
    try:
        eci_form = bytes.fromhex(b.text)
    except ValueError:
        eci_form = b""
    segments: list[tuple[int | None, bytes]] = [(None, raw)]
    if eci_form:
        _, segments = parse_eci_bytes(eci_form)
    seg_raw, text, charset = decode_segments(segments)
    if seg_raw != raw:  # unexpected escaping: trust .bytes and guess the charset
        text, charset = decode_text(raw)
    p = b.position
    ox, oy = offset
    quad = tuple(
        (round(pt.x / scale + ox), round(pt.y / scale + oy))
        for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
    )
    return DecodedCode(b.format.name, raw, text, charset, quad)


class ZxingEngine:
    """zxing-cpp restricted to ``formats`` (default: QR only, for the live loop)."""

    def __init__(self, formats: Sequence[Any] = QR_FORMATS, *, name: str = "zxing",
                 try_rotate: bool = True, try_downscale: bool = True, try_invert: bool = True,
                 binarizer: Any = None, is_pure: bool = False) -> None:
        self.name = name
        self.formats: Any = list(formats)  # a list: `|` on formats is deprecated in zxing-cpp 3
        self._opts: dict[str, Any] = {
            "try_rotate": try_rotate,
            "try_downscale": try_downscale,
            "try_invert": try_invert,
            "is_pure": is_pure,
            "text_mode": zxingcpp.TextMode.HexECI,
        }
        if binarizer is not None:
            self._opts["binarizer"] = binarizer

    def decode(self, gray: np.ndarray) -> list[DecodedCode]:
        return self.decode_scaled(gray)

    def decode_scaled(self, gray: np.ndarray, offset: tuple[float, float] = (0.0, 0.0),
                      scale: float = 1.0, **overrides: Any) -> list[DecodedCode]:
        """Decode ``gray`` that is a crop at ``offset`` of the original, resized by ``scale``;
        positions are mapped back to the original image."""
        opts = {**self._opts, **overrides}
        results = zxingcpp.read_barcodes(gray, formats=self.formats, **opts)
        return [_zxing_code(b, offset, scale) for b in results if b.valid and b.bytes]


# --- pyzbar ------------------------------------------------------------------------------------

ZBAR_CFG_ENABLE = 0
ZBAR_CFG_BINARY = 4  # zbar >= 0.23.1: return raw bytes, no charset guessing
_ZBAR_QRCODE = 64
_ZBAR_PDF417 = 57
_L800 = 808466521  # fourcc "Y800": 8-bit grayscale


class ZbarEngine:
    """libzbar through pyzbar's ctypes wrapper, in binary mode (raw bytes)."""

    def __init__(self, qr_only: bool = True, *, name: str = "pyzbar") -> None:
        from pyzbar import wrapper as zw  # imported here: loading libzbar may fail on a bare system

        self.name = name
        self._zw = zw
        self._qr_only = qr_only
        self._symbol_names = {int(s): s.name for s in zw.ZBarSymbol}

    def _scanner(self) -> Any:
        zw = self._zw
        scanner = zw.zbar_image_scanner_create()
        if not scanner:
            raise RuntimeError("zbar: cannot create scanner")
        if self._qr_only:
            zw.zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_ENABLE, 0)
            zw.zbar_image_scanner_set_config(scanner, _ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1)
        else:
            zw.zbar_image_scanner_set_config(scanner, _ZBAR_PDF417, ZBAR_CFG_ENABLE, 0)
        zw.zbar_image_scanner_set_config(scanner, _ZBAR_QRCODE, ZBAR_CFG_BINARY, 1)
        return scanner

    def decode(self, gray: np.ndarray) -> list[DecodedCode]:
        zw = self._zw
        if gray.ndim != 2:
            raise ValueError("ZbarEngine needs a 2-D grayscale image")
        buf = np.ascontiguousarray(gray, dtype=np.uint8)
        h, w = buf.shape
        pixels = buf.tobytes()
        out: list[DecodedCode] = []
        scanner = self._scanner()
        try:
            image = zw.zbar_image_create()
            if not image:
                raise RuntimeError("zbar: cannot create image")
            try:
                zw.zbar_image_set_format(image, _L800)
                zw.zbar_image_set_size(image, w, h)
                zw.zbar_image_set_data(image, ctypes.c_char_p(pixels), len(pixels), None)
                if zw.zbar_scan_image(scanner, image) < 0:
                    raise RuntimeError("zbar: unsupported image format")
                symbol = zw.zbar_image_first_symbol(image)
                while symbol:
                    raw = ctypes.string_at(zw.zbar_symbol_get_data(symbol),
                                           zw.zbar_symbol_get_data_length(symbol))
                    kind = self._symbol_names.get(symbol.contents.type, "UNKNOWN")
                    n = zw.zbar_symbol_get_loc_size(symbol)
                    pts = tuple((int(zw.zbar_symbol_get_loc_x(symbol, i)),
                                 int(zw.zbar_symbol_get_loc_y(symbol, i))) for i in range(n))
                    if raw:
                        text, charset = decode_text(raw)
                        out.append(DecodedCode(_ZBAR_FORMATS.get(kind, kind), raw, text, charset,
                                               pts or None))
                    symbol = zw.zbar_symbol_next(symbol)
            finally:
                zw.zbar_image_destroy(image)
        finally:
            zw.zbar_image_scanner_destroy(scanner)
        return out


# --- OpenCV ------------------------------------------------------------------------------------

_STRAIGHT_READER = ZxingEngine(QR_FORMATS, name="zxing-straight", try_rotate=False, try_downscale=False,
                               try_invert=False, is_pure=True)


def _unconvert_opencv(data: bytes) -> bytes:
    """Undo OpenCV's Latin-1 -> UTF-8 conversion of byte segments that were not valid UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    if not any(ord(c) > 0x7F for c in text) or any(ord(c) > 0xFF for c in text):
        return data
    original = text.encode("iso-8859-1")
    try:
        original.decode("utf-8")
    except UnicodeDecodeError:
        return original  # OpenCV would have passed valid UTF-8 through unchanged
    return data


class OpenCVEngine:
    """OpenCV's QR detector: ``kind="aruco"`` (QRCodeDetectorAruco) or ``"plain"`` (QRCodeDetector).

    OpenCV detectors are not thread-safe, so each call builds its own (cheap) detector.
    """

    def __init__(self, kind: str = "aruco", *, name: str | None = None) -> None:
        if kind not in ("aruco", "plain"):
            raise ValueError("kind must be 'aruco' or 'plain'")
        self.kind = kind
        self.name = name or f"opencv-{kind}"
        # OpenCV warns on stderr for every ECI symbol ("ECI is not supported properly"); we handle
        # ECI by re-reading the rectified grid, so keep its log quiet.
        with contextlib.suppress(AttributeError):
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    def _detector(self) -> Any:
        return cv2.QRCodeDetectorAruco() if self.kind == "aruco" else cv2.QRCodeDetector()

    def decode(self, gray: np.ndarray) -> list[DecodedCode]:
        det = self._detector()
        try:
            ok, infos, points, straight = det.detectAndDecodeBytesMulti(gray)
        except cv2.error:
            return []
        if not ok or infos is None:
            return []
        out: list[DecodedCode] = []
        for i, data in enumerate(infos):
            if not data:
                continue
            quad: Quad | None = None
            if points is not None and len(points) > i:
                quad = tuple((round(float(x)), round(float(y))) for x, y in points[i])
            code = None
            if straight is not None and len(straight) > i and straight[i] is not None:
                code = _reread_straight(straight[i], quad)
            if code is None:
                raw = _unconvert_opencv(bytes(data))
                text, charset = decode_text(raw)
                code = DecodedCode("QRCode", raw, text, charset, quad)
            out.append(code)
        return out


def _reread_straight(grid: np.ndarray, quad: Quad | None) -> DecodedCode | None:
    """Re-read OpenCV's rectified module grid (one pixel per module) with zxing-cpp."""
    g: np.ndarray = np.asarray(grid, dtype=np.uint8)
    if g.ndim != 2 or g.shape[0] < 21:
        return None
    if g.max() <= 1:
        g = (g * 255).astype(np.uint8)
    g = np.pad(g, 4, constant_values=255)
    g = cv2.resize(g, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    for img in (g, 255 - g):
        found = _STRAIGHT_READER.decode(img)
        if found:
            c = found[0]
            return DecodedCode(c.format, c.raw, c.text, c.charset, quad)
    return None
