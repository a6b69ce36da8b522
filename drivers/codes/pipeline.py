"""The production decoding pipeline: zxing-cpp first, rescue strategies only where it found nothing.

Stages for one frame (``DecodePipeline.decode``):

1. Grayscale once (pyzbar reads only the first channel; every engine gets the same gray image).
2. Gate scale: frames wider than ``GATE_WIDTH`` (1280) are first read downscaled (1080p at
   960x540). A cheap noise estimate (median absolute horizontal difference on every 8th row,
   through a histogram) sends a very noisy frame to a smaller scale still, which denoises it and
   keeps zxing-cpp from spending ~25 ms on finder-pattern candidates in sensor noise.
3. zxing-cpp on the gate image, restricted to the mode's formats (QR only in the live loop; QR,
   PDF417, Data Matrix and 1-D codes for stills), with ``return_errors``: symbols it located but
   could not decode become rescue candidates.
4. zxing-cpp again on a box-blur unsharp mask of the gate image with the global-histogram
   binarizer (not for noisy frames). Blur and low contrast defeat zxing-cpp's local binarizer;
   this pass alone took the 200-frame set from 89.5 % to 96.5 % read, for ~1.5 ms on an empty
   1080p frame. It keeps ``try_invert`` in live mode, where the first pass does not.
5. Early exit (live): no symbol located by either pass means an empty frame (0 of 20 empty 1080p
   frames located one; 199 of 200 code frames did). Stills also look for code-like texture.
6. Rescue, per candidate crop (at most ``max_candidates``), the crop resized to at most
   ``MAX_CROP_LIVE`` px, stopping at the first success and within ``rescue_budget_ms``: unsharp
   masks of three strengths, the global-histogram binarizer, plain upscaling, CLAHE, denoising,
   each re-read with zxing-cpp; then pyzbar (binary mode) and OpenCV's Aruco QR detector.
7. Validation: empty payloads, degenerate positions and duplicates (zxing-cpp 3.x can report a
   bogus extra QR code, zxing-cpp #1162) are dropped.

``Debouncer`` suppresses the same payload held in front of the camera: reported once per
``hold_s`` seconds, with an injectable clock. It keeps only a keyed hash of each payload.

Health: ``pipeline.health`` is OK after every call that ran without engine errors and DEGRADED
with an error *kind* (never a payload) when an engine raised. Nothing here logs payloads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import zxingcpp

from drivers.codes.engines import (
    QR_FORMATS,
    STILL_FORMATS,
    OpenCVEngine,
    ZbarEngine,
    ZxingEngine,
    _zxing_code,
)
from drivers.health import Health
from drivers.interfaces import DecodedCode

log = logging.getLogger(__name__)

LIVE = "live"
STILL = "still"

GATE_WIDTH = 1280  # first reads run on a frame at most this wide
MAX_CROP_LIVE = 480  # rescue crops are resized to at most this side (px)
MAX_CROP_STILL = 900


@dataclass
class PipelineStats:
    """Counters for diagnostics and the benchmark (no payloads)."""

    frames: int = 0
    found_first_pass: int = 0
    found_rescue: int = 0
    early_exit: int = 0
    engine_errors: int = 0
    by_strategy: dict[str, int] = field(default_factory=dict)


def to_gray(image: Any) -> np.ndarray:
    """A contiguous 2-D uint8 view/copy of a grayscale, BGR or BGRA numpy image."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return np.ascontiguousarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return np.ascontiguousarray(arr[:, :, 0])
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"unsupported image shape {arr.shape}")


def noise_level(gray: np.ndarray) -> float:
    """Median absolute difference of horizontal neighbours on every 8th row (~0.1 ms on 1080p).
    Clean camera frames give 0-3; heavy sensor noise 30+."""
    rows = np.ascontiguousarray(gray[::8, :])
    diffs = cv2.absdiff(rows[:, 1:], rows[:, :-1])
    # the median through a 256-bin histogram: several times faster than np.median's sort
    hist = cv2.calcHist([diffs], [0], None, [256], [0, 256]).ravel()
    return float(np.searchsorted(np.cumsum(hist), (diffs.size + 1) // 2))


def _quad_ok(quad: tuple[tuple[int, int], ...] | None) -> bool:
    if quad is None:
        return True
    if len(quad) < 3:
        return False
    pts = np.array(quad, np.float32)
    return bool(abs(cv2.contourArea(pts)) >= 36.0)


def validate(codes: Iterable[DecodedCode]) -> list[DecodedCode]:
    """Drop empty payloads, degenerate positions and duplicates (same format and bytes)."""
    seen: set[tuple[str, bytes]] = set()
    out: list[DecodedCode] = []
    for c in codes:
        if not c.raw or not _quad_ok(c.position):
            continue
        key = (c.format, c.raw)
        if key in seen:
            continue
        seen.add(key)
        out.append(c)
    return out


Box = tuple[int, int, int, int]  # x0, y0, x1, y1


def find_candidates(gray: np.ndarray, max_candidates: int = 3) -> list[Box]:
    """Regions whose texture looks like a 2-D code: dense strong edges in both directions.

    Works on a ~640-px-wide copy; the edge threshold follows the frame's own noise floor so a
    noisy frame does not light up everywhere. Returns boxes in full-resolution coordinates, the
    most code-like first.
    """
    h, w = gray.shape
    f = max(1, round(w / 640))
    small = cv2.resize(gray, (w // f, h // f), interpolation=cv2.INTER_AREA) if f > 1 else gray
    gx = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3))
    gy = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3))
    floor = float(np.median(gx[::4, ::4])) + float(np.median(gy[::4, ::4]))
    t = max(24.0, 2.5 * floor)
    k = max(5, 28 // f)
    dx = cv2.blur((gx > t).astype(np.float32), (k, k))
    dy = cv2.blur((gy > t).astype(np.float32), (k, k))
    score = np.minimum(dx, dy)
    mask = (score > 0.22).astype(np.uint8)
    if not mask.any():
        return []
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes: list[tuple[float, Box]] = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if bw < 4 or bh < 4 or area < 16:
            continue
        aspect = max(bw, bh) / max(1, min(bw, bh))
        if aspect > 4.0:  # text lines and stripes are long and thin; codes are squarish
            continue
        sub = score[y:y + bh, x:x + bw]
        rank = float(sub.mean()) * (area ** 0.5)
        pad = max(bw, bh) * 0.35 + 8
        box = (max(0, int((x - pad) * f)), max(0, int((y - pad) * f)),
               min(w, int((x + bw + pad) * f)), min(h, int((y + bh + pad) * f)))
        boxes.append((rank, box))
    boxes.sort(key=lambda rb: -rb[0])
    return [b for _, b in boxes[:max_candidates]]


def _box_from_quad(quad: tuple[tuple[int, int], ...], shape: tuple[int, ...]) -> Box:
    pts = np.array(quad, np.float32)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    # zxing-cpp's quad for a symbol it could not decode is often a partial grid (a wrong third
    # finder pattern): pad generously, the crop is resized to a capped size anyway.
    pad = max(x1 - x0, y1 - y0) * 0.6 + 8
    h, w = shape[:2]
    return (max(0, int(x0 - pad)), max(0, int(y0 - pad)), min(w, int(x1 + pad)), min(h, int(y1 + pad)))


def downscale(gray: np.ndarray, f: int) -> np.ndarray:
    """``gray`` reduced ``f`` times by area averaging; powers of two go through OpenCV's fast 2x
    path (a direct 3x/4x INTER_AREA resize of 1080p costs ~1 ms, 2x steps ~0.1 ms each)."""
    h, w = gray.shape
    out = gray
    while f > 1 and f % 2 == 0:
        out = cv2.resize(out, (out.shape[1] // 2, out.shape[0] // 2), interpolation=cv2.INTER_AREA)
        f //= 2
        h, w = out.shape
    if f > 1:
        out = cv2.resize(out, (w // f, h // f), interpolation=cv2.INTER_AREA)
    return out


def sharpen(img: np.ndarray, k: int = 7, amount: float = 2.5) -> np.ndarray:
    """Box-blur unsharp mask with saturation: restores blurred edges and stretches low local
    contrast (~0.3 ms on 960x540)."""
    return cv2.addWeighted(img, 1 + amount, cv2.blur(img, (k, k)), -amount, 0)


def _unsharp(img: np.ndarray, sigma: float = 2.0, amount: float = 1.5) -> np.ndarray:
    blurred = cv2.GaussianBlur(img, (0, 0), sigma)
    return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)


def _stretch_clahe(img: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img, (1, 99))
    if hi - lo >= 4:
        img = cv2.convertScaleAbs(img, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(img)


class Debouncer:
    """Report the same payload once per ``hold_s`` seconds while it stays in front of the camera.

    Keys are keyed BLAKE2 hashes of format and bytes (a per-instance random key), so the debouncer
    never holds a payload. ``clock`` is injectable for tests (default ``time.monotonic``).
    """

    def __init__(self, hold_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        if hold_s < 0:
            raise ValueError("hold_s must be >= 0")
        self.hold_s = hold_s
        self._clock = clock
        self._key = os.urandom(16)
        self._last: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def _digest(self, code: DecodedCode) -> bytes:
        h = hashlib.blake2b(key=self._key, digest_size=16)
        h.update(code.format.encode())
        h.update(b"\0")
        h.update(code.raw)
        return h.digest()

    def accept(self, code: DecodedCode) -> bool:
        """True if ``code`` should be reported now."""
        d = self._digest(code)
        with self._lock:
            now = self._clock()
            last = self._last.get(d)
            if last is not None and now - last < self.hold_s:
                return False
            self._last[d] = now
            if len(self._last) > 256:  # forget payloads not seen for a while
                self._last = {k: v for k, v in self._last.items() if now - v < self.hold_s}
            return True

    def filter(self, codes: Iterable[DecodedCode]) -> list[DecodedCode]:
        return [c for c in codes if self.accept(c)]

    def reset(self) -> None:
        with self._lock:
            self._last.clear()


class DecodePipeline:
    """zxing-cpp, then targeted rescue; implements ``CodeReader``.

    ``mode="live"``: QR only, tuned for camera frames (fast early exit on empty frames).
    ``mode="still"``: QR, PDF417, Data Matrix and 1-D codes, for ``kiosk-scan`` and photos.
    Safe to call from a worker thread; engines keep no per-call state.
    """

    def __init__(self, mode: str = LIVE, *, name: str = "codes", health: Health | None = None,
                 max_candidates: int = 3, use_zbar: bool = True, use_opencv: bool = True,
                 rescue_budget_ms: float | None = -1.0) -> None:
        if mode not in (LIVE, STILL):
            raise ValueError("mode must be 'live' or 'still'")
        self.mode = mode
        self.name = name
        self.health = health or Health(name)
        self.max_candidates = max_candidates
        # Live frames come again 30 ms later: cap the rescue time; stills get every strategy.
        if rescue_budget_ms is not None and rescue_budget_ms < 0:
            rescue_budget_ms = 20.0 if mode == LIVE else None
        self.rescue_budget_ms = rescue_budget_ms
        formats = QR_FORMATS if mode == LIVE else STILL_FORMATS
        self._zxing = ZxingEngine(formats, name="zxing")
        self._zxing_qr = ZxingEngine(QR_FORMATS, name="zxing-qr")
        self._zbar: ZbarEngine | None = None
        if use_zbar:
            try:
                self._zbar = ZbarEngine(qr_only=(mode == LIVE))
            except Exception as exc:  # libzbar missing: run without it, say so in health
                self.health.degraded(f"zbar-unavailable:{type(exc).__name__}")
        self._opencv = OpenCVEngine("aruco") if use_opencv else None
        self.stats = PipelineStats()
        self._stats_lock = threading.Lock()

    # --- Driver-ish surface ------------------------------------------------------------------

    def selftest(self) -> dict[str, Any]:
        """Decode a generated QR code; report ``ok`` and the time it took."""
        import segno

        qr = segno.make_qr("KIOSK-SELFTEST", error="m")
        m = np.array(qr.matrix, np.uint8)
        img = np.where(np.pad(m, 4) == 1, 0, 255).astype(np.uint8)
        img = np.kron(img, np.ones((6, 6), np.uint8))
        t0 = time.perf_counter()
        found = self.decode(img)
        ms = (time.perf_counter() - t0) * 1000
        ok = any(c.text == "KIOSK-SELFTEST" for c in found)
        if not ok:
            self.health.failed("selftest-no-read")
        return {"ok": ok, "driver": self.name, "ms": round(ms, 2), "zbar": self._zbar is not None}

    def close(self) -> None:
        pass

    # --- decoding ----------------------------------------------------------------------------

    def decode(self, image: Any) -> list[DecodedCode]:
        gray = to_gray(image)
        errors: list[str] = []
        codes, strategy = self._decode_gray(gray, errors)
        codes = validate(codes)
        with self._stats_lock:
            s = self.stats
            s.frames += 1
            if errors:
                s.engine_errors += len(errors)
            if strategy == "early-exit":
                s.early_exit += 1
            elif codes and strategy == "first-pass":
                s.found_first_pass += 1
            elif codes:
                s.found_rescue += 1
                s.by_strategy[strategy] = s.by_strategy.get(strategy, 0) + 1
        if errors:
            self.health.degraded(errors[-1])
        else:
            self.health.ok()
        return codes

    def _run(self, fn: Callable[[], list[DecodedCode]], label: str, errors: list[str]) -> list[DecodedCode]:
        try:
            return fn()
        except Exception as exc:  # an engine bug must not kill the camera loop
            errors.append(f"engine-error:{label}:{type(exc).__name__}")
            log.warning("code engine %s raised %s", label, type(exc).__name__)
            return []

    def _decode_gray(self, gray: np.ndarray, errors: list[str]) -> tuple[list[DecodedCode], str]:
        h, w = gray.shape
        if h < 21 or w < 21:
            return [], "early-exit"
        # Gate scale: at most GATE_WIDTH px wide (a 1080p frame is read at 960x540 first); a very
        # noisy frame is read smaller still (at least 2x below the gate scale), which denoises it
        # and keeps zxing-cpp from chasing finder patterns in sensor noise.
        f = max(1, -(-w // GATE_WIDTH))
        level = noise_level(gray) if w >= 960 else 0.0
        noisy = level >= 18
        if noisy:
            f = max(3 if level >= 24 else 2, 2 * f if f > 1 else f)
        small = downscale(gray, f)
        # Live: normal polarity here; inverted codes are read by the sharpened pass below, which
        # costs a quarter as much on an empty frame. A frame already reduced for the gate skips
        # zxing-cpp's own extra downscaled scan here (the sharpened pass still does it): -0.3 ms
        # on an empty 1080p frame.
        still = self.mode == STILL
        found, hints = self._read(small, f, errors, "zxing", try_invert=still,
                                  try_downscale=still or f == 1)
        if found:
            return found, "first-pass"
        if not noisy:
            # Blur and low contrast defeat zxing-cpp's binarizer (it treats blocks with a range
            # under 24 grey levels as flat): a box-blur unsharp mask restores both, and a global
            # histogram binarizer on it costs well under a millisecond when nothing is there.
            found, more = self._read(sharpen(small), f, errors, "zxing-sharpened",
                                     binarizer=zxingcpp.Binarizer.GlobalHistogram)
            if found:
                return found, "sharpened"
            hints += [b for b in more if not _inside(b, hints)]
        texture: list[Box] = []
        if self.mode == STILL:
            texture = [b for b in find_candidates(gray, self.max_candidates) if not _inside(b, hints)]
        if not hints and not texture:
            # Live: zxing-cpp saw no finder-pattern triple in the frame nor in its sharpened copy.
            return [], "early-exit"
        deadline = None
        if self.rescue_budget_ms is not None:
            deadline = time.perf_counter() + self.rescue_budget_ms / 1000
        # Where zxing-cpp saw a symbol: every strategy; texture only (stills): every strategy too.
        work = hints[: self.max_candidates] + texture
        for box in work:
            found, strategy = self._rescue(gray, box, errors, deadline)
            if found:
                return found, strategy
            if deadline is not None and time.perf_counter() > deadline:
                return [], "budget"
        if self.mode == STILL:
            # Last resort for stills: the whole image through the other engines.
            for label, fn in self._whole_image_fallbacks(gray):
                found = self._run(fn, label, errors)
                if found:
                    return found, label
        return [], "none"

    def _read(self, img: np.ndarray, f: int, errors: list[str], label: str,
              **opts: Any) -> tuple[list[DecodedCode], list[Box]]:
        """zxing-cpp on ``img`` (the frame downscaled by ``f``): decoded codes, and boxes (full
        resolution) around symbols it located but could not decode."""
        try:
            results = zxingcpp.read_barcodes(img, formats=self._zxing.formats, return_errors=True,
                                             text_mode=zxingcpp.TextMode.HexECI, **opts)
        except Exception as exc:
            errors.append(f"engine-error:{label}:{type(exc).__name__}")
            return [], []
        found = [_zxing_code(b, (0.0, 0.0), 1.0 / f) for b in results if b.valid and b.bytes]
        hints: list[Box] = []
        if not found:
            shape = (img.shape[0] * f, img.shape[1] * f)
            for b in results[:2]:
                p = b.position
                quad = tuple((int(pt.x * f), int(pt.y * f))
                             for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left))
                if _quad_ok(quad):
                    box = _box_from_quad(quad, shape)
                    if not _inside(box, hints):
                        hints.append(box)
        return found, hints

    def _rescue(self, gray: np.ndarray, box: Box, errors: list[str],
                deadline: float | None) -> tuple[list[DecodedCode], str]:
        x0, y0, x1, y1 = box
        crop = np.ascontiguousarray(gray[y0:y1, x0:x1])
        if crop.shape[0] < 21 or crop.shape[1] < 21:
            return [], "none"
        side = max(crop.shape)
        # Upscale small crops (modules of 2-3 px survive sharpening better at 2x), but cap the
        # crop so one attempt stays ~1-3 ms in the live loop.
        cap = MAX_CROP_LIVE if self.mode == LIVE else MAX_CROP_STILL
        up = min(2.0, cap / side)
        crop_up = cv2.resize(crop, None, fx=up, fy=up,
                             interpolation=cv2.INTER_CUBIC if up > 1 else cv2.INTER_AREA) if up != 1 else crop
        z = self._zxing_qr if self.mode == LIVE else self._zxing
        off = (float(x0), float(y0))
        gh = zxingcpp.Binarizer.GlobalHistogram
        sharp = _unsharp(crop_up, 2.0 * up, 2.5)
        strategies: list[tuple[str, Callable[[], list[DecodedCode]]]] = [
            ("sharpen", lambda: z.decode_scaled(sharp, off, up)),
            ("sharpen-gh", lambda: z.decode_scaled(sharp, off, up, binarizer=gh)),
            ("upscale", lambda: z.decode_scaled(crop_up, off, up)),
            ("sharpen-strong", lambda: z.decode_scaled(_unsharp(crop_up, 3.0 * up, 4.0), off, up)),
            ("sharpen-soft", lambda: z.decode_scaled(_unsharp(crop_up, 1.5 * up, 1.5), off, up)),
            ("contrast", lambda: z.decode_scaled(_stretch_clahe(crop_up), off, up)),
            ("denoise", lambda: z.decode_scaled(cv2.GaussianBlur(crop_up, (0, 0), 0.8 * up), off, up)),
            ("upscale-gh", lambda: z.decode_scaled(crop_up, off, up, binarizer=gh)),
        ]
        if self._zbar is not None:
            zb = self._zbar
            strategies.append(("pyzbar", lambda: _shift(zb.decode(sharp), off, up)))
        if self._opencv is not None:
            ocv = self._opencv
            strategies.append(("opencv", lambda: _shift(ocv.decode(crop_up), off, up)))
        for label, fn in strategies:
            if deadline is not None and time.perf_counter() > deadline:
                break
            found = self._run(fn, label, errors)
            if found:
                return found, label
        return [], "none"

    def _whole_image_fallbacks(self, gray: np.ndarray) -> list[tuple[str, Callable[[], list[DecodedCode]]]]:
        out: list[tuple[str, Callable[[], list[DecodedCode]]]] = []
        if self._zbar is not None:
            zb = self._zbar
            out.append(("pyzbar-whole", lambda: zb.decode(gray)))
        if self._opencv is not None:
            ocv = self._opencv
            out.append(("opencv-whole", lambda: ocv.decode(gray)))
        return out


def _inside(box: Box, others: Sequence[Box]) -> bool:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return any(a <= cx <= c and b <= cy <= d for a, b, c, d in others)


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
