"""The rescue strategies for one candidate box, cheapest and most successful first, as labelled calls the
pipeline runs in order (and the live loop spreads over frames); and the whole-image fallbacks for stills.
See ``drivers.codes.pipeline``."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import zxingcpp

from drivers.codes.engines import OpenCVEngine, ZbarEngine, ZxingEngine
from drivers.codes.enhance import _stretch_clahe, _unsharp
from drivers.codes.regions import Box
from drivers.interfaces import DecodedCode

MAX_CROP_LIVE = 480  # rescue crops are resized to at most this side (px)
MAX_CROP_STILL = 900

Strategy = tuple[str, Callable[[], list[DecodedCode]]]  # (label, the read)


def crop_strategies(gray: np.ndarray, box: Box, *, live: bool, full_res: bool, zxing: ZxingEngine,
                    zbar: ZbarEngine | None, opencv: OpenCVEngine | None) -> list[Strategy]:
    """The rescue strategies for one crop, cheapest and most successful first. With ``full_res``
    the first is a plain read of the crop at full resolution (2x for a small crop), never
    reduced below the frame's own resolution."""
    x0, y0, x1, y1 = box
    crop = np.ascontiguousarray(gray[y0:y1, x0:x1])
    if crop.shape[0] < 21 or crop.shape[1] < 21:
        return []
    side = max(crop.shape)
    # Upscale small crops (modules of 2-3 px survive sharpening better at 2x), but cap the
    # crop so one attempt stays ~1-3 ms in the live loop.
    cap = MAX_CROP_LIVE if live else MAX_CROP_STILL
    up = min(2.0, cap / side)
    cache: dict[str, np.ndarray] = {}

    def crop_up() -> np.ndarray:  # made on first use: most frames need only the full-res read
        if "u" not in cache:
            cache["u"] = cv2.resize(crop, None, fx=up, fy=up,
                                    interpolation=cv2.INTER_CUBIC if up > 1 else cv2.INTER_AREA) \
                if up != 1 else crop
        return cache["u"]

    def sharp() -> np.ndarray:
        if "s" not in cache:
            cache["s"] = _unsharp(crop_up(), 2.0 * up, 2.5)
        return cache["s"]

    z = zxing
    off = (float(x0), float(y0))
    gh = zxingcpp.Binarizer.GlobalHistogram
    strategies: list[Strategy] = []
    if full_res:
        # Never below the frame's own resolution (small modules live there), 2x when small.
        fr = 2.0 if side <= 260 else 1.0

        def full() -> np.ndarray:
            return cv2.resize(crop, None, fx=fr, fy=fr, interpolation=cv2.INTER_CUBIC) if fr != 1 else crop

        strategies.append(("full-res", lambda: z.decode_scaled(full(), off, fr)))
    strategies += [
        ("sharpen", lambda: z.decode_scaled(sharp(), off, up)),
        ("sharpen-gh", lambda: z.decode_scaled(sharp(), off, up, binarizer=gh)),
        ("upscale", lambda: z.decode_scaled(crop_up(), off, up)),
        ("sharpen-strong", lambda: z.decode_scaled(_unsharp(crop_up(), 3.0 * up, 4.0), off, up)),
        ("sharpen-soft", lambda: z.decode_scaled(_unsharp(crop_up(), 1.5 * up, 1.5), off, up)),
        ("contrast", lambda: z.decode_scaled(_stretch_clahe(crop_up()), off, up)),
        ("denoise", lambda: z.decode_scaled(cv2.GaussianBlur(crop_up(), (0, 0), 0.8 * up), off, up)),
        ("upscale-gh", lambda: z.decode_scaled(crop_up(), off, up, binarizer=gh)),
    ]
    if zbar is not None:
        zb = zbar
        strategies.append(("pyzbar", lambda: _shift(zb.decode(sharp()), off, up)))
    if opencv is not None:
        ocv = opencv
        strategies.append(("opencv", lambda: _shift(ocv.decode(crop_up()), off, up)))
    return strategies


def whole_image_fallbacks(gray: np.ndarray, zbar: ZbarEngine | None,
                          opencv: OpenCVEngine | None) -> list[Strategy]:
    """The last resort for stills before restoration: the whole image through pyzbar and OpenCV."""
    out: list[Strategy] = []
    if zbar is not None:
        zb = zbar
        out.append(("pyzbar-whole", lambda: zb.decode(gray)))
    if opencv is not None:
        ocv = opencv
        out.append(("opencv-whole", lambda: ocv.decode(gray)))
    return out


def _shift(codes: list[DecodedCode], offset: tuple[float, float], scale: float) -> list[DecodedCode]:
    """Map positions found in a crop resized by ``scale`` back to the full image."""
    ox, oy = offset
    out = []
    for c in codes:
        pos = None
        if c.position is not None:
            pos = tuple((round(x / scale + ox), round(y / scale + oy)) for x, y in c.position)
        out.append(DecodedCode(c.format, c.raw, c.text, c.charset, pos))
    return out
