"""Where a code may be in a frame: code-like texture at a reduced scale (``find_candidates``) and at full
resolution (``small_module_regions``), boxes around symbols zxing-cpp located but could not decode, and
the merging of overlapping boxes. Coordinates only; see ``drivers.codes.pipeline``."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from drivers.codes.enhance import downscale

Box = tuple[int, int, int, int]  # x0, y0, x1, y1


def _quad_ok(quad: tuple[tuple[int, int], ...] | None) -> bool:
    if quad is None:
        return True
    if len(quad) < 3:
        return False
    pts = np.array(quad, np.float32)
    return bool(abs(cv2.contourArea(pts)) >= 36.0)


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


def _box_from_quad(quad: tuple[tuple[int, int], ...], shape: tuple[int, ...]) -> Box:
    pts = np.array(quad, np.float32)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    # zxing-cpp's quad for a symbol it could not decode is often a partial grid (a wrong third
    # finder pattern): pad generously, the crop is resized to a capped size anyway.
    pad = max(x1 - x0, y1 - y0) * 0.6 + 8
    h, w = shape[:2]
    return (max(0, int(x0 - pad)), max(0, int(y0 - pad)), min(w, int(x1 + pad)), min(h, int(y1 + pad)))
