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

The parts live in modules of their own and are re-exported here: ``enhance`` (grayscale, noise,
scaling, sharpening, whole-image restoration), ``regions`` (candidate boxes and their merging),
``strategies`` (the rescue steps for one box), ``live`` (the live loop's tracks) and ``debounce``
(``Debouncer``: the same payload held in front of the camera is reported once per ``hold_s`` seconds;
it keeps only a keyed hash of each payload).

Health: ``pipeline.health`` is OK after every call that ran without engine errors and DEGRADED
with an error *kind* (never a payload) when an engine raised. Nothing here logs payloads.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zxingcpp

from drivers.codes.debounce import Debouncer
from drivers.codes.engines import (
    MATRIX_FORMATS,
    QR_FORMATS,
    STILL_FORMATS,
    OpenCVEngine,
    ZbarEngine,
    ZxingEngine,
    _zxing_code,
)
from drivers.codes.enhance import (
    DEBLUR,
    RESTORE_MAX_WIDTH,
    _stretch_clahe,
    deconvolve,
    downscale,
    noise_level,
    restore_whole,
    sharpen,
    to_gray,
)
from drivers.codes.live import TRACK_FRAMES, Track, track_steps, update_tracks
from drivers.codes.regions import (
    TEXTURE_BLOCK,
    Box,
    _box_from_quad,
    _quad_ok,
    find_candidates,
    merge_boxes,
    small_module_regions,
    texture_map,
)
from drivers.codes.strategies import MAX_CROP_LIVE, MAX_CROP_STILL, Strategy, crop_strategies, whole_image_fallbacks
from drivers.health import Health
from drivers.interfaces import DecodedCode

# Re-exported: the pipeline's parts were split into modules of their own (issue 15); callers and tests
# import them from here.
__all__ = [
    "DEBLUR", "LIVE", "MAX_CROP_LIVE", "MAX_CROP_STILL", "RESTORE_MAX_WIDTH", "STILL", "TEXTURE_BLOCK", "TRACK_FRAMES",
    "Box", "Debouncer", "DecodePipeline", "PipelineStats", "UnreadableFrame", "deconvolve", "downscale",
    "find_candidates", "merge_boxes", "noise_level", "restore_whole", "sharpen", "small_module_regions",
    "texture_map", "to_gray", "validate",
]

log = logging.getLogger(__name__)

LIVE = "live"
STILL = "still"

GATE_WIDTH = 1280  # first reads run on a frame at most this wide
LIVE_FRAME_BUDGET_MS = 26.0  # live: no rescue step starts that would end later in the frame
COARSE_PROBE_EVERY = 3  # live: the coarse texture probe runs on every 3rd frame with nothing found
MAX_COARSE_SIDE = 640  # live: larger coarse-texture boxes are clutter, not a held code
LIVE_SOFT_BUDGET_MS = 12.0  # live: more strategies than the one in turn only until then


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


class UnreadableFrame(ValueError):
    """``decode`` was given no image (None), an empty one, or one it cannot read as pixels."""


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
        self._tracks: list[Track] = []
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
                todo = track_steps(track, turn, now, self._strategies(gray, box, full_res=True))
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
                       coarse: list[Box]) -> tuple[int, list[tuple[Track, Box, int]]]:
        """Count the frame, merge what it found into the tracks, and return the frame's number and the
        tracks to read in it (with their box and turn as of now)."""
        with self._live_lock:
            self._frame_no += 1
            now = self._frame_no
            self._tracks = update_tracks(self._tracks, now, hints, fine, coarse, self.max_candidates)
            return now, [(t, t.box, t.turn) for t in self._tracks[: self.max_candidates]]

    def _run_steps(self, todo: list[tuple[Strategy, bool]], soft: float,
                   deadline: float | None, errors: list[str], ran: dict[int, int],
                   track: Track) -> tuple[list[DecodedCode], str]:
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

    def _strategies(self, gray: np.ndarray, box: Box, *, full_res: bool) -> list[Strategy]:
        z = self._zxing_qr if self.mode == LIVE else self._zxing
        return crop_strategies(gray, box, live=self.mode == LIVE, full_res=full_res, zxing=z, zbar=self._zbar,
                               opencv=self._opencv)

    def _whole_image_fallbacks(self, gray: np.ndarray) -> list[Strategy]:
        return whole_image_fallbacks(gray, self._zbar, self._opencv)


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

