"""Deterministic generator of a degraded QR test set, for tests (small N) and the benchmark (N >= 200).

Every sample is a 1280x720 BGR frame with a cluttered background and one QR code that was rendered
from a known payload and then degraded the way a kiosk camera degrades it: rotation, perspective,
blur, sensor noise, low contrast, small modules, JPEG artefacts, and combinations of these.
Payloads cycle through ASCII kiosk payloads, Chinese text in UTF-8 with ECI, UTF-8 without ECI,
GBK without ECI, and a binary payload, so the same set measures read rate and charset exactness.

``empty_frames`` gives 1920x1080 frames without any code (cluttered scenes and sensor noise) to
measure how fast the pipeline gives up.

``generate(n, seed, hard=True)`` is the harder set: 1920x1080 frames (a 1080p camera; the live
pipeline first reads them at half size, where 2-3 px modules shrink to 1-1.5 px) with the same module
sizes in pixels as the 720p set, plus a code shown on a phone screen (sub-pixel stripes and pixel
gaps beating against the camera's pixel grid: moiré; sometimes dark mode), glare (a saturated light
spot across part of the symbol), and moiré with glare.

``held_frames(sample, k)`` gives the same scene as ``k`` camera frames, each with fresh sensor noise
(the JPEG step, if any, after the noise), for the live benchmark: a code held in front of the camera.

Nothing here is random unless seeded: the same ``(n, seed)`` always gives the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import segno

FRAME_SIZE = (1280, 720)  # width, height
EMPTY_SIZE = (1920, 1080)

DEGRADATIONS = (
    "clean",
    "rotation",
    "perspective",
    "blur",
    "noise",
    "low_contrast",
    "small_modules",
    "jpeg",
    "combo",
    "combo_hard",
)
HARD_DEGRADATIONS = (*DEGRADATIONS, "moire", "glare", "moire_glare", "small_modules")
SENSOR_NOISE = 3.0  # sigma of the fresh noise every held frame gets (grey levels)

# Payload kinds: how the bytes were put in the symbol and what text a correct reader must return.
PAYLOAD_KINDS = ("ascii", "utf8_eci", "utf8", "gbk", "binary")

_CHINESE = (
    "北京市朝阳区建外街道便民服务中心",
    "张伟 申请 居住证 办理",
    "电子证照：营业执照 统一社会信用代码",
    "上海市浦东新区陆家嘴街道 社区事务受理",
    "好差评：非常满意",
    "广州市天河区 石牌街道 社保卡补办",
    "残疾人证 年审 预约号",
    "老年人优待证申领（线下）",
)
_ASCII = (
    "ezz://licence?type=bizlic&id=91110105MA01ABCD3X&issuer=BJ-AIC&ts=1732700000",
    "KR-20241127-A1B2-000123-7",
    "KIOSKPROV1:eyJkZXZpY2UiOiJrLTAwMSJ9",
    "CTID:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
    "https://zwfw.example.gov.cn/item/11010500000000001",
)


@dataclass(frozen=True)
class Sample:
    """One degraded frame with its ground truth."""

    image: np.ndarray  # BGR uint8, FRAME_SIZE
    payload: bytes  # the exact bytes in the symbol's data segments
    text: str | None  # what a correct reader must return as text; None for binary payloads
    payload_kind: str  # one of PAYLOAD_KINDS
    degradation: str  # one of DEGRADATIONS
    module_px: float  # approximate module size in the frame, pixels
    index: int = 0  # i of make_sample(i, seed)
    seed: int = 0
    base: np.ndarray | None = None  # the scene before sensor noise and JPEG (for held_frames)
    noise: float = 0.0  # sensor noise sigma of this degradation
    jpeg: int = 0  # JPEG quality applied after the noise (0: none)
    box: tuple[int, int, int, int] | None = None  # the symbol's bounding box (x0, y0, x1, y1)


def _payload(kind: str, i: int, rng: np.random.Generator) -> tuple[segno.QRCode, bytes, str | None]:
    if kind == "ascii":
        text = _ASCII[i % len(_ASCII)]
        data = text.encode("ascii")
        return segno.make_qr(data, error="m", boost_error=False), data, text
    if kind == "binary":
        # Starts with control bytes so no charset can mistake it for text.
        data = bytes([0x00, 0x01, 0x02, 0xFF, 0x80]) + rng.integers(0, 256, 27, dtype=np.uint8).tobytes()
        return segno.make_qr(data, error="m", boost_error=False), data, None
    text = _CHINESE[i % len(_CHINESE)]
    if kind == "utf8_eci":
        q = segno.make_qr(text, encoding="utf-8", eci=True, error="m", boost_error=False)
        return q, text.encode("utf-8"), text
    if kind == "utf8":
        data = text.encode("utf-8")
        return segno.make_qr(data, error="m", boost_error=False), data, text
    if kind == "gbk":
        data = text.encode("gbk")
        return segno.make_qr(data, error="m", boost_error=False), data, text
    raise ValueError(f"unknown payload kind {kind!r}")


def _clutter(size: tuple[int, int], rng: np.random.Generator, items: int = 40) -> np.ndarray:
    """A busy BGR scene: gradient, rectangles, lines, circles and printed text."""
    w, h = size
    gx = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    gy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    base = rng.uniform(60, 200, 3)
    tilt = rng.uniform(-60, 60, 3)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        img[:, :, c] = base[c] + tilt[c] * (gx * 0.6 + gy * 0.4)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(items):
        kind = int(rng.integers(0, 4))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            x2, y2 = x + int(rng.integers(20, w // 4)), y + int(rng.integers(20, h // 4))
            cv2.rectangle(img, (x, y), (x2, y2), color, -1 if rng.random() < 0.5 else 3)
        elif kind == 1:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), color,
                     int(rng.integers(1, 6)))
        elif kind == 2:
            cv2.circle(img, (x, y), int(rng.integers(10, 120)), color, -1 if rng.random() < 0.5 else 2)
        else:
            words = "STREET OFFICE 2024 SERVICE HALL No.17 WINDOW 3 QUEUE A042"
            start = int(rng.integers(0, 30))
            cv2.putText(img, words[start:start + 20], (x, y), cv2.FONT_HERSHEY_SIMPLEX,
                        float(rng.uniform(0.5, 2.0)), color, int(rng.integers(1, 4)), cv2.LINE_AA)
    # A striped poster and a checkerboard-like tile pattern: things that look a bit like codes.
    sx, sy = int(rng.integers(0, w - 200)), int(rng.integers(0, h - 120))
    for k in range(0, 200, 8):
        cv2.rectangle(img, (sx + k, sy), (sx + k + 3, sy + 100), (30, 30, 30), -1)
    return img


def _render_code(qr: segno.QRCode, module_px: int, border: int = 4) -> np.ndarray:
    m = np.array(qr.matrix, dtype=np.uint8)
    m = np.pad(m, border, constant_values=0)
    img = np.where(m == 1, 0, 255).astype(np.uint8)
    return np.kron(img, np.ones((module_px, module_px), np.uint8)) if module_px > 1 else img


def _place(frame: np.ndarray, code: np.ndarray, rng: np.random.Generator, angle: float,
           persp: float, scale: float, corners_out: list[np.ndarray] | None = None) -> np.ndarray:
    """Warp ``code`` (gray, or BGR for a screen) into ``frame`` (BGR) with rotation ``angle`` and
    perspective ``persp``; the destination corners are appended to ``corners_out``."""
    h, w = frame.shape[:2]
    s = code.shape[0]
    side = s * scale
    half = side / 2
    margin = side * 0.75 + 4
    cx = float(rng.uniform(margin, w - margin))
    cy = float(rng.uniform(margin, h - margin))
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], np.float32)
    # perspective: pull two adjacent corners towards the centre (keystone), with a random direction
    if persp > 0:
        k = int(rng.integers(0, 4))
        corners[k] *= 1 - persp
        corners[(k + 1) % 4] *= 1 - persp
        corners += rng.uniform(-persp, persp, corners.shape).astype(np.float32) * half * 0.5
    a = np.deg2rad(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    dst = corners @ rot.T + np.array([cx, cy], np.float32)
    src = np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float32)
    hom = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(code, hom, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpPerspective(np.full(code.shape[:2], 255, np.uint8), hom, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if corners_out is not None:
        corners_out.append(dst)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    tint = rng.uniform(0.85, 1.0, 3).astype(np.float32)  # paper is never pure white
    if warped.ndim == 3:
        code_bgr = warped.astype(np.float32) * tint[None, None, :]
    else:
        code_bgr = warped.astype(np.float32)[:, :, None] * tint[None, None, :]
    out = frame.astype(np.float32) * (1 - alpha) + code_bgr * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def _degrade(img: np.ndarray, rng: np.random.Generator, *, blur: float = 0.0, noise: float = 0.0,
             contrast: float = 1.0, jpeg: int = 0) -> np.ndarray:
    out = img
    if contrast < 1.0:
        f = out.astype(np.float32)
        mid = float(rng.uniform(100, 160))
        out = np.clip(mid + (f - mid) * contrast, 0, 255).astype(np.uint8)
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    if noise > 0:
        n = rng.normal(0, noise, out.shape).astype(np.float32)
        out = np.clip(out.astype(np.float32) + n, 0, 255).astype(np.uint8)
    if jpeg > 0:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out = np.asarray(decoded, np.uint8)
    return out


def _screen(code: np.ndarray, rng: np.random.Generator, sub: int = 4) -> np.ndarray:
    """``code`` (gray, one pixel per screen pixel) shown on a phone screen: each screen pixel is
    ``sub`` x ``sub`` samples with R, G and B sub-pixel stripes and a dark gap, so resampling it to the
    camera's grid beats (moiré). Dark mode (inverted) one time in three."""
    img = code.astype(np.float32)
    if rng.random() < 1 / 3:
        img = 255 - img
    big = np.kron(img, np.ones((sub, sub), np.float32))
    h, w = big.shape
    out = np.zeros((h, w, 3), np.float32)
    col = np.arange(w) % sub
    row = np.arange(h) % sub
    stripe = [col == 2, col == 1, col == 0]  # B, G, R columns (BGR order), the last column dark
    lit = (row < sub - 1)[:, None]
    glow = float(rng.uniform(0.15, 0.35))  # light bleeding between sub-pixels
    for c in range(3):
        m = (stripe[c][None, :] & lit).astype(np.float32)
        out[:, :, c] = big * (glow + (1 - glow) * m) * 1.6
    return np.clip(out, 0, 255).astype(np.uint8)


def _glare(img: np.ndarray, rng: np.random.Generator, corners: np.ndarray) -> np.ndarray:
    """A saturated light spot (a lamp reflected by glossy paper or a screen) over part of the code."""
    h, w = img.shape[:2]
    c = corners.mean(axis=0)
    side = float(np.linalg.norm(corners[1] - corners[0]))
    cx, cy = c + rng.uniform(-0.35, 0.35, 2) * side
    sx, sy = rng.uniform(0.12, 0.3, 2) * side
    amp = float(rng.uniform(160, 260))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    spot = amp * np.exp(-(((xs - cx) / sx) ** 2 + ((ys - cy) / sy) ** 2) / 2)
    out = img.astype(np.float32) + spot[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def make_sample(i: int, seed: int = 0, *, hard: bool = False) -> Sample:
    """The ``i``-th sample of the set with this seed (independent of the set size); ``hard``: the
    1920x1080 set with phone-screen moiré and glare (see the module docstring)."""
    rng = np.random.default_rng([seed, i] if not hard else [seed, i, 1080])
    kind = PAYLOAD_KINDS[i % len(PAYLOAD_KINDS)]
    degs = HARD_DEGRADATIONS if hard else DEGRADATIONS
    deg = degs[(i // len(PAYLOAD_KINDS) + i) % len(degs)]
    qr, payload, text = _payload(kind, i, rng)
    frame = _clutter(EMPTY_SIZE if hard else FRAME_SIZE, rng, items=90 if hard else 40)

    angle, persp, module, blur, noise, contrast, jpeg = _degradation(deg, rng, hard)
    frame, corners = _place_code(frame, qr, deg, rng, angle, persp, module)
    if deg in ("glare", "moire_glare"):
        frame = _glare(frame, rng, corners[0])
    base = _degrade(frame, rng, blur=blur, contrast=contrast)
    image = _degrade(base, rng, noise=noise, jpeg=jpeg)
    q = corners[0]
    box = (int(q[:, 0].min()), int(q[:, 1].min()), int(np.ceil(q[:, 0].max())), int(np.ceil(q[:, 1].max())))
    return Sample(image, payload, text, kind, deg, module, i, seed, base, noise, jpeg, box)


def _degradation(deg: str, rng: np.random.Generator,
                 hard: bool) -> tuple[float, float, float, float, float, float, int]:
    """A sample's ``(angle, perspective, module px, blur, noise, contrast, jpeg quality)`` for its
    degradation, drawn from ``rng`` in a fixed order (changing the order changes the set)."""
    angle = float(rng.uniform(-8, 8))
    persp = 0.0
    module = float(rng.uniform(4.0, 7.0))
    blur = noise = 0.0
    contrast = 1.0
    jpeg = 0
    if deg == "rotation":
        angle = float(rng.uniform(-180, 180))
    elif deg == "perspective":
        persp = float(rng.uniform(0.15, 0.3))
        angle = float(rng.uniform(-30, 30))
    elif deg == "blur":
        blur = float(rng.uniform(2.0, 3.4))
    elif deg == "noise":
        noise = float(rng.uniform(20, 40))
    elif deg == "low_contrast":
        contrast = float(rng.uniform(0.08, 0.2))
    elif deg == "small_modules":
        module = float(rng.uniform(1.4, 2.2)) if not hard else float(rng.uniform(1.6, 3.0))
    elif deg == "jpeg":
        jpeg = int(rng.integers(8, 20))
        module = float(rng.uniform(2.5, 4.0))
    elif deg == "combo":
        angle = float(rng.uniform(-180, 180))
        persp = float(rng.uniform(0.05, 0.15))
        blur = float(rng.uniform(0.6, 1.4))
        noise = float(rng.uniform(8, 18))
        contrast = float(rng.uniform(0.4, 0.7))
        jpeg = int(rng.integers(30, 60))
    elif deg == "combo_hard":
        module = float(rng.uniform(2.8, 3.8))
        angle = float(rng.uniform(-180, 180))
        persp = float(rng.uniform(0.1, 0.2))
        blur = float(rng.uniform(0.7, 1.3))
        noise = float(rng.uniform(9, 16))
        contrast = float(rng.uniform(0.28, 0.48))
        jpeg = int(rng.integers(30, 50))
    elif deg in ("moire", "moire_glare"):
        module = float(rng.uniform(3.0, 5.5))
        angle = float(rng.uniform(-20, 20))
        persp = float(rng.uniform(0.0, 0.12))
        blur = float(rng.uniform(0.0, 0.6))
    elif deg == "glare":
        module = float(rng.uniform(3.0, 6.0))
        angle = float(rng.uniform(-30, 30))
        contrast = float(rng.uniform(0.6, 1.0))
    return angle, persp, module, blur, noise, contrast, jpeg


def _place_code(frame: np.ndarray, qr: segno.QRCode, deg: str, rng: np.random.Generator, angle: float,
                persp: float, module: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """``frame`` with the code drawn into it (as a phone screen for the moiré degradations), and the
    code's corners."""
    corners: list[np.ndarray] = []
    if deg in ("moire", "moire_glare"):
        # 2-4 screen pixels per module; each screen pixel rendered as 4x4 samples, so the warp
        # resamples a screen-pixel period of module/ppm camera pixels (1-2.7 px: beats).
        ppm = int(rng.integers(2, 5))
        sub = 4
        code = _screen(_render_code(qr, ppm), rng, sub)
        frame = _place(frame, code, rng, angle, persp, module / (ppm * sub), corners)
    else:
        # Render at a whole module size >= 1 and let the warp rescale to the wanted (fractional) size.
        base_px = max(1, round(module)) if module >= 3 else 8
        code = _render_code(qr, base_px)
        frame = _place(frame, code, rng, angle, persp, module / base_px, corners)
    return frame, corners


def generate(n: int, seed: int = 0, *, hard: bool = False) -> list[Sample]:
    """``n`` degraded frames, deterministic for a given seed (``hard``: the 1080p set)."""
    return [make_sample(i, seed, hard=hard) for i in range(n)]


def held_frames(sample: Sample, k: int = 10) -> list[np.ndarray]:
    """The scene of ``sample`` as ``k`` successive camera frames, each with fresh sensor noise
    (sigma: the sample's noise, at least ``SENSOR_NOISE``), JPEG-compressed after it if the sample is.
    Deterministic for a given sample."""
    if sample.base is None:
        raise ValueError("sample has no base image")
    sigma = max(sample.noise, SENSOR_NOISE)
    out = []
    for f in range(k):
        rng = np.random.default_rng([sample.seed, sample.index, 77, f])
        out.append(_degrade(sample.base, rng, noise=sigma, jpeg=sample.jpeg))
    return out


def empty_frame(kind: str, i: int = 0, seed: int = 0) -> np.ndarray:
    """A 1920x1080 BGR frame without any code: ``kind`` is "clutter" or "noise"."""
    rng = np.random.default_rng([seed, 1_000_000 + i, 0 if kind == "clutter" else 1])
    if kind == "clutter":
        img = _clutter(EMPTY_SIZE, rng, items=120)
        return _degrade(img, rng, noise=4.0)
    if kind == "noise":
        w, h = EMPTY_SIZE
        base = float(rng.uniform(60, 180))
        n = rng.normal(base, 45, (h, w, 3))
        return np.clip(n, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown empty-frame kind {kind!r}")


def empty_frames(n: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``n`` empty frames, alternating clutter and noise; each as ``(kind, image)``."""
    return [(k, empty_frame(k, i, seed)) for i in range(n) for k in ("clutter", "noise")][:n]
