"""The card's photo: the chip holds it as 1,024 bytes of WLT (a proprietary wavelet format); readers' SDKs hand
it over decoded as a 102 x 126 24-bit BMP (38,862 bytes). Decoders turn the WLT bytes into that BMP.

- :class:`VendorWltDecoder` calls the reader vendor's decoding library (``libwlt.so`` / ``libWltRS.so``; its
  ``unpack(src, dst, 1)`` entry point writes the BMP) through ctypes. It ships with the reader's SDK, not
  with us: configure its path as ``idcard.wlt_library``.
- :class:`SimWltDecoder` reads what the simulator puts in the photo field instead of WLT (the WLT codec is
  not public): a marker, then a WebP image of at most 1,020 bytes, which it decodes and hands over as the
  same 102 x 126 BMP a real SDK gives.

A photo that cannot be decoded is None: the face check then says 未完成 and offers staff help; the card's
text is never lost for it. The photo is personal data: never logged, wiped with the session.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)

PHOTO_WIDTH, PHOTO_HEIGHT = 102, 126
BMP_SIZE = 38862  # 54-byte header + 126 rows of 308 bytes (102 x 3, padded to 4)
SIM_MARKER = b"SIMW"


class PhotoDecoder(Protocol):
    def decode(self, wlt: bytes) -> bytes | None:
        """The card photo as a BMP file's bytes, or None when it cannot be decoded."""
        ...


def to_bmp(image: np.ndarray) -> bytes:
    """``image`` resized to the card's 102 x 126 and written as a 24-bit BMP, as readers' SDKs give it."""
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    sized = cv2.resize(colour, (PHOTO_WIDTH, PHOTO_HEIGHT), interpolation=cv2.INTER_AREA)
    ok, bmp = cv2.imencode(".bmp", sized)
    if not ok:  # pragma: no cover - OpenCV always writes BMP
        raise ValueError("cannot encode BMP")
    return bmp.tobytes()


def sim_wlt(image: np.ndarray, size: int = 1024) -> bytes:
    """The simulator's stand-in for a chip's WLT photo: marker + the best WebP that fits, zero-padded."""
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    sized = cv2.resize(colour, (PHOTO_WIDTH, PHOTO_HEIGHT), interpolation=cv2.INTER_AREA)
    room = size - len(SIM_MARKER)
    grey = cv2.cvtColor(sized, cv2.COLOR_BGR2GRAY)
    for image in (sized, grey):  # a busy colour photo may only fit in grey
        for quality in (*range(90, 0, -5), 1):
            ok, webp = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, quality])
            if ok and len(webp) <= room:
                return (SIM_MARKER + webp.tobytes()).ljust(size, b"\0")
    raise ValueError("photo does not fit the card's photo field")


class SimWltDecoder:
    def decode(self, wlt: bytes) -> bytes | None:
        if not wlt.startswith(SIM_MARKER):
            return None
        body = wlt[len(SIM_MARKER):]
        if body[:4] != b"RIFF":
            return None
        body = body[:int.from_bytes(body[4:8], "little") + 8]  # the WebP's own length (it may end in zeros)
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        return to_bmp(image)


class VendorWltDecoder:
    """The reader vendor's WLT library, loaded once. Not exercised by the tests (no vendor library here)."""

    def __init__(self, library: str | Path) -> None:
        self._lib = ctypes.CDLL(str(library))
        self._unpack = self._lib.unpack
        self._unpack.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        self._unpack.restype = ctypes.c_int

    def decode(self, wlt: bytes) -> bytes | None:
        out = ctypes.create_string_buffer(BMP_SIZE)
        try:
            code = self._unpack(wlt, out, 1)
        except OSError:
            log.warning("idcard: photo decoder failed")
            return None
        if code != 1 or out.raw[:2] != b"BM":
            log.warning("idcard: photo decoder returned %d", code)
            return None
        return out.raw


def decode_bmp(bmp: bytes) -> np.ndarray | None:
    """The BMP bytes as a BGR image (for the face check), or None."""
    return cv2.imdecode(np.frombuffer(bmp, np.uint8), cv2.IMREAD_COLOR)
