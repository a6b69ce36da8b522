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
5. Small modules: a per-16-px-block map of strong horizontal *and* vertical neighbour differences
   at full resolution (~0.5 ms on 1080p) finds code-like fine texture that the gate scale blurred
   away (2-3 px modules become 1-1.5 px); those regions are read at full resolution.
6. Rescue. Stills: every candidate box (located symbols, fine texture, ``find_candidates``) gets a
   read at full resolution and then every strategy: unsharp masks of three strengths, the
   global-histogram binarizer, plain upscaling, CLAHE, denoising, each re-read with zxing-cpp; then
   pyzbar (binary mode) and OpenCV's Aruco QR detector; then the whole image through those two;
   last, the whole image *restored* (``restore_whole``): Wiener deconvolution for a defocused code
   (a Gaussian blur of ~3 px, and of ~1.5 px with noise) and a denoise-then-sharpen for a noisy,
   slightly blurred one, each read with zxing-cpp for the 2-D formats. A blurred code has weak edges,
   so no candidate box isolates it (its box is merged with clutter or is the whole frame), and the
   per-box strategies either denoise or sharpen, never undo the blur. Runs only when everything
   else found nothing (~0.3 s on 1080p), never in the live loop.
   Live: the frames keep coming, so the rescue is spread over them. Located symbols and fine
   texture become *tracks* (coordinates only) that live ``TRACK_FRAMES`` frames after they were
   last seen; each frame gives each track a read at full resolution plus the next strategy in its
   turn (and more while the frame is younger than ``soft_budget_ms``); no step starts that would
   end after ``rescue_budget_ms`` from the frame's start, by each step's learnt cost. With nothing
   located and no fine texture, every third frame also probes for coarser code-like texture (low
   contrast with noise hides the finder patterns at the gate scale). An empty frame stops at the
   gate (sensor noise) or after a full-resolution look at code-like texture and one cheap zxing-cpp
   strategy a frame on it (clutter); never at pyzbar, OpenCV or CLAHE.
   ``reset()`` forgets the tracks (the scanner calls it when a scan starts).
   Overlapping candidate boxes are merged keeping the box that covers the symbol (``merge_boxes``).
7. Validation: empty payloads, degenerate positions and duplicates (zxing-cpp 3.x can report a
   bogus extra QR code, zxing-cpp #1162) are dropped.

``Debouncer`` suppresses the same payload held in front of the camera: reported once per
``hold_s`` seconds, with an injectable clock. It keeps only a keyed hash of each payload.

Health: ``pipeline.health`` is OK after every call that ran without engine errors and DEGRADED
with an error *kind* (never a payload) when an engine raised. Nothing here logs payloads.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import zxingcpp

from drivers.codes.engines import (
    MATRIX_FORMATS,
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
TRACK_FRAMES = 10  # live: a region is read for this many frames after zxing-cpp last located it
TEXTURE_BACKOFF = 8  # live: a texture-only track that had every strategy is read every 8th frame
LIVE_FRAME_BUDGET_MS = 26.0  # live: no rescue step starts that would end later in the frame
EXPENSIVE = frozenset({"contrast", "pyzbar", "opencv"})  # rescue steps of several ms each
COARSE_PROBE_EVERY = 3  # live: the coarse texture probe runs on every 3rd frame with nothing found
MAX_COARSE_SIDE = 640  # live: larger coarse-texture boxes are clutter, not a held code
LIVE_SOFT_BUDGET_MS = 12.0  # live: more strategies than the one in turn only until then
RESTORE_MAX_WIDTH = 1920  # stills: the whole-image restoration runs on at most this width
# stills, last resort: (label, Gaussian blur sigma in px, noise-to-signal ratio) of the Wiener
# deconvolutions tried on the whole image: strong defocus, and milder blur with sensor noise
DEBLUR = (("deblur-strong", 3.0, 0.003), ("deblur-noisy", 1.5, 0.03))


@dataclass
class PipelineStats:
    """Counters for diagnostics and the benchmark (no payloads)."""

    frames: int = 0
    found_first_pass: int = 0
    found_rescue: int = 0
    early_exit: int = 0
    engine_errors: int = 0
    by_strategy: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)  # rescue steps run, by label


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


def _gate_scale(gray: np.ndarray) -> tuple[int, float, bool]:
    """The gate scale's reduction ``f``, the frame's noise level and whether it is noisy. At most
    ``GATE_WIDTH`` px wide (a 1080p frame is read at 960x540 first); a very noisy frame is read smaller
    still (at least 2x below the gate scale), which denoises it and keeps zxing-cpp from chasing finder
    patterns in sensor noise."""
    w = gray.shape[1]
    f = max(1, -(-w // GATE_WIDTH))
    level = noise_level(gray) if w >= 960 else 0.0
    noisy = level >= 18
    if noisy:
        f = max(3 if level >= 24 else 2, 2 * f if f > 1 else f)
    return f, level, noisy


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


def find_candidates(gray: np.ndarray, max_candidates: int = 3, *, fast: bool = False) -> list[Box]:
    """Regions whose texture looks like a 2-D code: dense strong edges in both directions.

    Works on a ~640-px-wide copy; the edge threshold follows the frame's own noise floor so a
    noisy frame does not light up everywhere. Returns boxes in full-resolution coordinates, the
    most code-like first. ``fast`` (the live loop): a power-of-two reduction (480 px wide for 1080p)
    and 8-bit maps, ~1 ms on 1080p instead of 5-9.
    """
    h, w = gray.shape
    if fast:
        f = 1 << max(0, round(float(np.log2(max(1.0, w / 640)))))
        small = downscale(gray, f)
    else:
        f = max(1, round(w / 640))
        small = cv2.resize(gray, (w // f, h // f), interpolation=cv2.INTER_AREA) if f > 1 else gray
    gx = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3))
    gy = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3))
    floor = float(np.median(gx[::4, ::4])) + float(np.median(gy[::4, ::4]))
    t = max(24.0, 2.5 * floor)
    k = max(5, 28 // f)
    dx: np.ndarray
    dy: np.ndarray
    if fast:
        _, bx = cv2.threshold(gx, t, 255, cv2.THRESH_BINARY)
        _, by = cv2.threshold(gy, t, 255, cv2.THRESH_BINARY)
        dx = cv2.blur(bx, (k, k)).astype(np.float32) / 255
        dy = cv2.blur(by, (k, k)).astype(np.float32) / 255
    else:
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


def _halve(a: np.ndarray, n: int) -> np.ndarray:
    for _ in range(n):  # exact 2x INTER_AREA steps take OpenCV's fast path (a 16x step does not)
        a = cv2.resize(a, (a.shape[1] // 2, a.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return a


TEXTURE_BLOCK = 16  # px of the full-resolution frame per cell of the texture map


def texture_map(gray: np.ndarray, level: float) -> np.ndarray:
    """Per 16x16 block of the full-resolution frame: the share (0-255) of pixels with a strong
    horizontal *and* vertical neighbour difference (the smaller of the two). Codes with 1.5-3 px
    modules score high here while the half-size gate image has already blurred them away. The
    threshold follows the frame's noise level. ~0.5 ms on 1080p."""
    h, w = gray.shape
    hh, ww = (h - 1) // TEXTURE_BLOCK * TEXTURE_BLOCK, (w - 1) // TEXTURE_BLOCK * TEXTURE_BLOCK
    if hh < TEXTURE_BLOCK or ww < TEXTURE_BLOCK:
        return np.zeros((0, 0), np.uint8)
    t = max(24.0, 3.0 * level)
    dx = cv2.absdiff(gray[:hh, 1:ww + 1], gray[:hh, :ww])
    dy = cv2.absdiff(gray[1:hh + 1, :ww], gray[:hh, :ww])
    _, ex = cv2.threshold(dx, t, 255, cv2.THRESH_BINARY)
    _, ey = cv2.threshold(dy, t, 255, cv2.THRESH_BINARY)
    return cv2.min(_halve(ex, 4), _halve(ey, 4))


def small_module_regions(gray: np.ndarray, level: float, max_regions: int = 2,
                         min_score: int = 40) -> list[Box]:
    """Regions with dense fine two-directional texture (code-like, small modules), in full-resolution
    coordinates, the most code-like first. Long thin regions (text lines, stripes) are left out."""
    tm = texture_map(gray, level)
    if tm.size == 0 or int(tm.max()) < min_score:
        return []
    smooth = cv2.blur(tm, (3, 3))
    mask = (smooth >= min_score * 0.6).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = gray.shape
    b = TEXTURE_BLOCK
    ranked: list[tuple[float, Box]] = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if max(bw, bh) > 24 or max(bw, bh) / max(1, min(bw, bh)) > 3.0:
            continue  # larger than a small-module code, or a line of text
        peak = int(tm[y:y + bh, x:x + bw][labels[y:y + bh, x:x + bw] == i].max())
        if peak < min_score:
            continue
        pad = max(bw, bh) * 0.3 + 1
        box = (max(0, int((x - pad) * b)), max(0, int((y - pad) * b)),
               min(w, int((x + bw + pad) * b)), min(h, int((y + bh + pad) * b)))
        ranked.append((peak * area ** 0.5, box))
    ranked.sort(key=lambda rb: -rb[0])
    return [bx for _, bx in ranked[:max_regions]]


def _area(b: Box) -> int:
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])


def _intersection(a: Box, b: Box) -> int:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def merge_boxes(boxes: Iterable[Box]) -> list[Box]:
    """Candidate boxes with overlapping ones merged, order of first appearance kept.

    Two boxes of similar size (areas within 4x) that overlap by a fifth of the smaller one are taken
    to be the same symbol; the one kept is the one that covers the symbol: the larger if it holds
    (nearly) all of the smaller, otherwise their union. A much larger box around a smaller one (texture
    spread over half a cluttered frame) is kept apart: it would be read at a reduced scale. (The old
    rule kept the first box found and dropped a later one whose centre fell inside it, which threw
    away a box covering the whole code for a smaller one cutting it.)"""
    out = [b for b in boxes if _area(b) > 0]
    changed = True
    while changed:  # a union can overlap a box that was apart from both halves
        changed = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                inter = _intersection(a, b)
                small, large = sorted((a, b), key=_area)
                if inter < 0.2 * _area(small) or _area(large) > 4 * _area(small):
                    continue
                if inter >= 0.9 * _area(small):
                    out[i] = large
                else:
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                del out[j]
                changed = True
                break
            if changed:
                break
    return out


class UnreadableFrame(ValueError):
    """``decode`` was given no image (None), an empty one, or one it cannot read as pixels."""


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


# stills of one camera share a size: keep that size's filters (~20 ms to make, 9 MB each on 1080p)
@functools.lru_cache(maxsize=len(DEBLUR))
def _wiener_filter(shape: tuple[int, int], sigma: float, nsr: float) -> np.ndarray:
    """The Wiener filter ``H / (H^2 + nsr)`` for a Gaussian blur of ``sigma`` px (``H``: its transfer
    function, real and separable), as a (h, w, 1) float32 array for a (h, w, 2) DFT spectrum."""
    h, w = shape
    c = np.float32(-2.0 * np.pi ** 2 * sigma ** 2)
    fy = np.fft.fftfreq(h).astype(np.float32)
    fx = np.fft.fftfreq(w).astype(np.float32)
    hf = np.outer(np.exp(c * fy * fy), np.exp(c * fx * fx))
    return (hf / (hf * hf + np.float32(nsr)))[:, :, None]


def deconvolve(gray: np.ndarray, params: Iterable[tuple[float, float]]) -> Iterable[np.ndarray]:
    """``gray`` restored by Wiener deconvolution of a Gaussian blur, once per ``(sigma, nsr)`` in
    ``params``, lazily (the image's spectrum is computed once), each scaled onto 0-255. The image is
    mirrored at its edges first, so the frame border does not ring into the picture."""
    pad = 16
    h0, w0 = gray.shape
    hh, ww = cv2.getOptimalDFTSize(h0 + 2 * pad), cv2.getOptimalDFTSize(w0 + 2 * pad)
    padded = cv2.copyMakeBorder(gray, pad, hh - h0 - pad, pad, ww - w0 - pad, cv2.BORDER_REFLECT)
    spectrum = cv2.dft(padded.astype(np.float32), flags=cv2.DFT_COMPLEX_OUTPUT)
    for sigma, nsr in params:
        out = cv2.idft(spectrum * _wiener_filter((hh, ww), sigma, nsr),
                       flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        # scaled linearly onto 0-255, not clipped: the code's contrast grows with the stretch
        # (zxing-cpp's local binarizer skips blocks with a range under 24 grey levels)
        yield cv2.normalize(out[pad:pad + h0, pad:pad + w0], None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U)


def restore_whole(gray: np.ndarray) -> Iterable[tuple[str, np.ndarray, float]]:
    """The stills' last resort: ``(label, restored image, scale)`` for the whole image (reduced to at
    most ``RESTORE_MAX_WIDTH`` px wide; ``scale`` maps its positions back). Lazily, cheapest and most
    successful first: Wiener deconvolutions of a strong and of a milder, noisy blur (``DEBLUR``),
    then a denoise (Gaussian, 0.6 px) followed by an unsharp mask, for a noisy, slightly blurred code
    whose modules the per-box strategies either smooth away or sharpen together with the noise."""
    f = max(1, -(-gray.shape[1] // RESTORE_MAX_WIDTH))
    img = downscale(gray, f) if f > 1 else gray
    scale = 1.0 / f
    labels = [label for label, _, _ in DEBLUR]
    for label, out in zip(labels, deconvolve(img, [(s, n) for _, s, n in DEBLUR]), strict=True):
        yield label, out, scale
    yield "denoise-sharpen", _unsharp(cv2.GaussianBlur(img, (0, 0), 0.6), 2.0, 2.0), scale


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
    Safe to call from any thread; engines keep no per-call state. A live pipeline keeps the regions
    it tracks between frames (under a lock): give each camera its own, and ``reset()`` it when a new
    scan starts. ``decode`` raises :class:`UnreadableFrame` for no image or an empty one.
    """

    def __init__(self, mode: str = LIVE, *, name: str = "codes", health: Health | None = None,
                 max_candidates: int = 3, use_zbar: bool = True, use_opencv: bool = True,
                 rescue_budget_ms: float | None = -1.0, soft_budget_ms: float | None = None) -> None:
        if mode not in (LIVE, STILL):
            raise ValueError("mode must be 'live' or 'still'")
        self.mode = mode
        self.name = name
        self.health = health or Health(name)
        self.max_candidates = max_candidates
        # Live frames come again 30 ms later: cap the rescue time; stills get every strategy.
        if rescue_budget_ms is not None and rescue_budget_ms < 0:
            rescue_budget_ms = LIVE_FRAME_BUDGET_MS if mode == LIVE else None
        self.rescue_budget_ms = rescue_budget_ms
        # live: strategies beyond the one in turn only while the frame is younger than this
        self.soft_budget_ms = LIVE_SOFT_BUDGET_MS if soft_budget_ms is None else soft_budget_ms
        formats = QR_FORMATS if mode == LIVE else STILL_FORMATS
        self._zxing = ZxingEngine(formats, name="zxing")
        self._zxing_qr = ZxingEngine(QR_FORMATS, name="zxing-qr")
        # the restored whole image: 2-D codes only (Reed-Solomon checked; a 1-D reader can take
        # deconvolution ringing on clutter for bars)
        self._zxing_matrix = ZxingEngine(MATRIX_FORMATS, name="zxing-matrix")
        self._zbar: ZbarEngine | None = None
        if use_zbar:
            try:
                self._zbar = ZbarEngine(qr_only=(mode == LIVE))
            except Exception as exc:  # libzbar missing: run without it, say so in health
                self.health.degraded(f"zbar-unavailable:{type(exc).__name__}")
        self._opencv = OpenCVEngine("aruco") if use_opencv else None
        self.stats = PipelineStats()
        self._stats_lock = threading.Lock()
        # live mode: regions tracked over successive frames (coordinates only)
        self._live_lock = threading.Lock()
        self._tracks: list[_Track] = []
        self._frame_no = 0
        # what each rescue step usually costs here (ms): a decaying maximum, seeded conservatively
        self._cost: dict[str, float] = {"opencv": 15.0, "pyzbar": 8.0, "contrast": 4.0}
        if mode == LIVE:
            _warm_up()

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
        """Every code in ``image`` (grayscale, BGR or BGRA uint8). Raises :class:`UnreadableFrame`
        (a ``ValueError``) for ``None``, an empty array or anything that is not an image."""
        gray = _checked_gray(image)
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

    def reset(self) -> None:
        """Forget the regions tracked from earlier frames (live mode): a new scan starts clean."""
        with self._live_lock:
            self._tracks.clear()

    def tracked_regions(self) -> list[Box]:
        """The regions the live loop will read at full resolution in the next frames (no payloads)."""
        with self._live_lock:
            return [t.box for t in self._tracks]

    def _run(self, fn: Callable[[], list[DecodedCode]], label: str, errors: list[str]) -> list[DecodedCode]:
        with self._stats_lock:
            self.stats.attempts[label] = self.stats.attempts.get(label, 0) + 1
        try:
            return fn()
        except Exception as exc:  # an engine bug must not kill the camera loop
            errors.append(f"engine-error:{label}:{type(exc).__name__}")
            log.warning("code engine %s raised %s", label, type(exc).__name__)
            return []

    def _decode_gray(self, gray: np.ndarray, errors: list[str]) -> tuple[list[DecodedCode], str]:
        t_start = time.perf_counter()
        h, w = gray.shape
        if h < 21 or w < 21:
            return [], "early-exit"
        f, level, noisy = _gate_scale(gray)
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
            hints = merge_boxes(hints + more)
        # Small modules vanish at the gate scale: fine code-like texture at full resolution.
        fine = small_module_regions(gray, level) if f > 1 else []
        if self.mode == LIVE:
            coarse = self._coarse_probe(gray, f) if not hints and not fine else []
            return self._live_rescue(gray, hints, fine, coarse, errors, t_start)
        return self._still_rescue(gray, hints, fine, errors)

    def _coarse_probe(self, gray: np.ndarray, f: int) -> list[Box]:
        """Live, nothing located and no fine texture: every few frames, coarser code-like texture too
        (low contrast with noise hides finder patterns at the gate scale)."""
        if f > 1 and self._frame_no % COARSE_PROBE_EVERY == 0:
            return [b for b in find_candidates(gray, 2, fast=True)
                    if max(b[2] - b[0], b[3] - b[1]) <= MAX_COARSE_SIDE][:1]
        return []

    def _still_rescue(self, gray: np.ndarray, hints: list[Box], fine: list[Box],
                      errors: list[str]) -> tuple[list[DecodedCode], str]:
        """Stills: every candidate box gets the full-resolution read and then every strategy; then the
        whole image through the other engines, then restored (the last resort)."""
        work = merge_boxes(hints[: self.max_candidates] + fine + find_candidates(gray, self.max_candidates))
        if not work:
            return [], "early-exit"
        deadline = None
        if self.rescue_budget_ms is not None:
            deadline = time.perf_counter() + self.rescue_budget_ms / 1000
        for box in work:
            for label, fn in self._strategies(gray, box, full_res=True):
                if deadline is not None and time.perf_counter() > deadline:
                    return [], "budget"
                found = self._run(fn, label, errors)
                if found:
                    return found, label
        for label, fn in self._whole_image_fallbacks(gray):
            found = self._run(fn, label, errors)
            if found:
                return found, label
        return self._restored_whole(gray, errors)

    def _restored_whole(self, gray: np.ndarray, errors: list[str]) -> tuple[list[DecodedCode], str]:
        try:
            for label, img, scale in restore_whole(gray):
                found = self._run(functools.partial(self._zxing_matrix.decode_scaled, img, (0.0, 0.0), scale),
                                  label, errors)
                if found:
                    return found, label
        except Exception as exc:  # as for an engine: a failed restoration is a miss, not a crash
            errors.append(f"engine-error:restore:{type(exc).__name__}")
            log.warning("code restoration raised %s", type(exc).__name__)
        return [], "none"

    def _live_rescue(self, gray: np.ndarray, hints: list[Box], fine: list[Box], coarse: list[Box],
                     errors: list[str], t_start: float) -> tuple[list[DecodedCode], str]:
        """The live loop's rescue, spread over the frames that keep coming.

        Regions zxing-cpp located but could not decode, and small-module texture, become tracks that
        live for ``TRACK_FRAMES`` frames after they were last seen. Every frame, each track (at most
        ``max_candidates``) gets a read at full resolution plus the *next* rescue strategy in its
        turn, so a code held in front of the camera meets every strategy within a few frames while
        one frame stays within ``rescue_budget_ms`` of its start: a step whose usual cost (learnt
        from its own recent runs) would overrun the budget waits for a later frame. A texture-only
        track (never located by zxing-cpp: printed text in the background, say) gets the cheap
        zxing-cpp strategies only, one a frame, for one round, then a read every ``TEXTURE_BACKOFF``
        frames."""
        now, work = self._update_tracks(hints, fine, coarse)
        if not work:
            # zxing-cpp saw no finder-pattern triple in the frame nor in its sharpened copy, and no
            # small-module texture is there nor was in the last frames.
            return [], "early-exit"
        deadline = None
        if self.rescue_budget_ms is not None:
            deadline = t_start + self.rescue_budget_ms / 1000
        soft = t_start + self.soft_budget_ms / 1000
        ran: dict[int, int] = {}  # id(track) -> rotation steps it had this frame
        try:
            for track, box, turn in work:
                todo = self._track_steps(track, turn, now, self._strategies(gray, box, full_res=True))
                found, label = self._run_steps(todo, soft, deadline, errors, ran, track)
                if found:
                    return found, label
        finally:
            with self._live_lock:
                for t in self._tracks:
                    t.turn += ran.get(id(t), 0)
        if deadline is not None and time.perf_counter() > deadline:
            return [], "budget"
        return [], "none"

    def _update_tracks(self, hints: list[Box], fine: list[Box],
                       coarse: list[Box]) -> tuple[int, list[tuple[_Track, Box, int]]]:
        """Count the frame, merge what it found into the tracks, and return the frame's number and the
        tracks to read in it (with their box and turn as of now)."""
        with self._live_lock:
            self._frame_no += 1
            now = self._frame_no
            tracks = [t for t in self._tracks if now - t.seen <= TRACK_FRAMES]
            found_now = [(b, "located") for b in hints] + [(b, "fine") for b in fine] + \
                [(b, "coarse") for b in coarse]
            for box, source in found_now:
                for t in tracks:
                    if len(merge_boxes([t.box, box])) == 1:
                        # the same symbol: keep the box that covers it (see merge_boxes)
                        t.box = merge_boxes([t.box, box])[0]
                        t.seen = now
                        if source == "located" and t.source != "located":
                            t.source, t.turn = "located", 0
                        break
                else:
                    tracks.append(_Track(box, now, 0, source, now))
            tracks.sort(key=lambda t: (t.source != "located", -t.seen))
            self._tracks = tracks[: 2 * self.max_candidates]
            return now, [(t, t.box, t.turn) for t in self._tracks[: self.max_candidates]]

    @staticmethod
    def _track_steps(track: _Track, turn: int, now: int,
                     strategies: list[tuple[str, Callable[[], list[DecodedCode]]]],
                     ) -> list[tuple[tuple[str, Callable[[], list[DecodedCode]]], bool]]:
        """The steps one track gets this frame, each with whether it is an extra (only while the frame is
        under the soft budget); none when the track waits.

        The full-resolution read every frame, then this track's next strategy in turn, and more of them
        while the frame is young (under the soft budget). Texture that zxing-cpp never located gets only
        the full-resolution read in the frame it is first seen, then one strategy a frame while it is
        tracked: an empty frame costs little."""
        if not strategies:
            return []
        rotation = strategies[1:]
        texture_only = track.source != "located"
        if texture_only and turn > len(rotation) and now % TEXTURE_BACKOFF:
            return []
        if track.source == "fine" and track.seen != now:
            return []  # fine texture is looked for in every frame: gone means gone
        todo = [(strategies[0], False)]
        if texture_only:  # cheap zxing-cpp strategies only, one a frame after first sight
            rotation = [st for st in rotation if st[0] not in EXPENSIVE]
            if now > track.first_seen:
                todo.append((rotation[turn % len(rotation)], False))
        else:
            todo += [(rotation[(turn + j) % len(rotation)], j > 0) for j in range(len(rotation))]
        return todo

    def _run_steps(self, todo: list[tuple[tuple[str, Callable[[], list[DecodedCode]]], bool]], soft: float,
                   deadline: float | None, errors: list[str], ran: dict[int, int],
                   track: _Track) -> tuple[list[DecodedCode], str]:
        """One track's steps in order, each only if its learnt cost fits the frame's budgets; the first
        read found ends them. Counts the rotation steps run into ``ran``."""
        for (label, fn), extra in todo:
            est = self._cost.get(label, 2.0) / 1000
            t0 = time.perf_counter()
            if extra and t0 + est > soft:
                break
            if deadline is not None and t0 + est > deadline:
                with self._live_lock:  # let an estimate that keeps a step out decay
                    self._cost[label] = 0.95 * self._cost.get(label, 2.0)
                break
            found = self._run(fn, label, errors)
            ms = (time.perf_counter() - t0) * 1000
            with self._live_lock:  # a decaying maximum of what this step costs
                self._cost[label] = max(ms, 0.9 * self._cost.get(label, ms))
            if label != "full-res":
                ran[id(track)] = ran.get(id(track), 0) + 1
            if found:
                return found, label
        return [], ""

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
                    hints.append(_box_from_quad(quad, shape))
        return found, merge_boxes(hints)

    def _strategies(self, gray: np.ndarray, box: Box, *,
                    full_res: bool) -> list[tuple[str, Callable[[], list[DecodedCode]]]]:
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
        cap = MAX_CROP_LIVE if self.mode == LIVE else MAX_CROP_STILL
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

        z = self._zxing_qr if self.mode == LIVE else self._zxing
        off = (float(x0), float(y0))
        gh = zxingcpp.Binarizer.GlobalHistogram
        strategies: list[tuple[str, Callable[[], list[DecodedCode]]]] = []
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
        if self._zbar is not None:
            zb = self._zbar
            strategies.append(("pyzbar", lambda: _shift(zb.decode(sharp()), off, up)))
        if self._opencv is not None:
            ocv = self._opencv
            strategies.append(("opencv", lambda: _shift(ocv.decode(crop_up()), off, up)))
        return strategies

    def _whole_image_fallbacks(self, gray: np.ndarray) -> list[tuple[str, Callable[[], list[DecodedCode]]]]:
        out: list[tuple[str, Callable[[], list[DecodedCode]]]] = []
        if self._zbar is not None:
            zb = self._zbar
            out.append(("pyzbar-whole", lambda: zb.decode(gray)))
        if self._opencv is not None:
            ocv = self._opencv
            out.append(("opencv-whole", lambda: ocv.decode(gray)))
        return out


_warm = threading.Event()


def _warm_up() -> None:
    """Pay OpenCV's first-call costs (CLAHE, the Aruco QR detector: 10-20 ms) once per process,
    before the first camera frame rather than inside it."""
    if _warm.is_set():
        return
    _warm.set()
    img = np.full((64, 64), 128, np.uint8)
    img[16:48, 16:48] = 0
    _stretch_clahe(img)
    OpenCVEngine("aruco").decode(img)


@dataclass
class _Track:
    """A region of the live frame the loop keeps reading (coordinates only, never pixels or payloads)."""

    box: Box
    seen: int  # frame number it was last located in
    turn: int  # rescue strategies it has had so far: the next one in the rotation
    source: str  # "located" (zxing-cpp found a symbol it could not decode), "fine" or "coarse" texture
    first_seen: int = 0  # frame number it was first seen in


def _checked_gray(image: Any) -> np.ndarray:
    if image is None:
        raise UnreadableFrame("unreadable frame: no image (None)")
    try:
        arr = np.asarray(image)
    except Exception as exc:
        raise UnreadableFrame(f"unreadable frame: {type(exc).__name__}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise UnreadableFrame(f"unreadable frame: not pixel data (dtype {arr.dtype})")
    if arr.size == 0:
        raise UnreadableFrame(f"unreadable frame: empty image (shape {arr.shape})")
    try:
        return to_gray(arr)
    except ValueError as exc:
        raise UnreadableFrame(f"unreadable frame: {exc}") from exc


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
