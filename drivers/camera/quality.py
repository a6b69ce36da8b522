"""Is a document-camera photo usable? Document found, sharp, free of glare, bright enough (issue 14, finding 6).

:func:`assess` looks at one BGR frame (any size; it works on a copy scaled to ``WORK_WIDTH``):

* **document found**: the largest outline in the edge map (Canny, closed by a dilation) that is close to a
  quadrilateral (``approxPolyDP``) or fills most of its bounding rectangle, covering at least
  ``MIN_DOCUMENT_SHARE`` of the frame;
* **blur**: the variance of the Laplacian inside the document (sharp print gives strong second
  derivatives; an out-of-focus photo does not), taken along four directions (x, y and the diagonals) and the
  weakest one kept: a hand moving sideways blurs only across the motion, and the Laplacian's sum would
  still see the sharp edges along it. Below ``MIN_SHARPNESS`` is blurred;
* **glare**: the share of the document's pixels that are saturated (every channel at or above
  ``SATURATED``), above ``MAX_GLARE_SHARE`` is glare (a lamp's reflection on a laminated card or
  glossy paper);
* **dark**: mean brightness below ``MIN_BRIGHTNESS``.

The first problem found, in the order dark, no document, glare, blur, is the one the resident is told
about (one instruction at a time). The thresholds were set on synthetic and simulated frames at 640 px
wide (``tests/drivers/test_document_quality.py``); a site can tune them per camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH = 640
MIN_BRIGHTNESS = 45.0
MIN_DOCUMENT_SHARE = 0.12
MIN_SHARPNESS = 80.0
SATURATED = 250
MAX_GLARE_SHARE = 0.04

PROBLEMS = ("dark", "no_document", "glare", "blur")
# Second derivatives along x, y and the two diagonals (3x3): a motion blur weakens the one along it.
_SECOND_DERIVATIVES = tuple(np.array(k, np.float64) for k in (
    [[0, 0, 0], [1, -2, 1], [0, 0, 0]],
    [[0, 1, 0], [0, -2, 0], [0, 1, 0]],
    [[1, 0, 0], [0, -2, 0], [0, 0, 1]],
    [[0, 0, 1], [0, -2, 0], [1, 0, 0]],
))


@dataclass(frozen=True)
class DocumentQuality:
    problem: str  # "" when usable, else one of PROBLEMS
    brightness: float
    document_share: float  # of the frame; 0 when none found
    sharpness: float  # the weaker direction's variance of the second derivative inside the document
    laplacian: float = 0.0  # the Laplacian's variance there (reported; the decision uses ``sharpness``)
    glare_share: float = 0.0  # saturated share of the document's (or the frame's) pixels
    corners: tuple[tuple[float, float], ...] = ()  # the document's outline, in fractions of the frame

    @property
    def ok(self) -> bool:
        return not self.problem

    def as_dict(self) -> dict[str, object]:
        return {"problem": self.problem, "brightness": round(self.brightness, 1),
                "document_share": round(self.document_share, 3), "sharpness": round(self.sharpness, 1),
                "laplacian": round(self.laplacian, 1),
                "glare_share": round(self.glare_share, 4)}


def _scaled(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if w <= WORK_WIDTH:
        return frame
    return cv2.resize(frame, (WORK_WIDTH, max(1, round(h * WORK_WIDTH / w))), interpolation=cv2.INTER_AREA)


def find_document(gray: np.ndarray) -> np.ndarray | None:
    """The document's outline (a contour) in ``gray``, or None: from the edge map first, else from the
    paper's brightness against the stand (Otsu), which survives a blur that smears the edges."""
    h, w = gray.shape[:2]
    smooth = cv2.GaussianBlur(gray, (5, 5), 0)
    edges = cv2.dilate(cv2.Canny(smooth, 40, 120), np.ones((5, 5), np.uint8), iterations=2)
    found = _best_outline(edges, h, w)
    if found is None:
        _t, bright = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
        found = _best_outline(bright, h, w)
    return found


def _best_outline(binary: np.ndarray, h: int, w: int) -> np.ndarray | None:
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    best: np.ndarray | None = None
    best_area = MIN_DOCUMENT_SHARE * h * w
    for c in contours:
        area = cv2.contourArea(c)
        if area < best_area:
            continue
        _x, _y, bw, bh = cv2.boundingRect(c)
        if bw >= 0.98 * w and bh >= 0.98 * h:
            continue  # the frame's own border, not a document on the stand
        approx = cv2.approxPolyDP(c, 0.03 * cv2.arcLength(c, True), True)
        (_cx, _cy), (rw, rh), _angle = cv2.minAreaRect(c)
        if len(approx) == 4 or (rw * rh > 0 and area / (rw * rh) >= 0.85):
            best, best_area = c, area
    return best


def assess(frame: np.ndarray) -> DocumentQuality:
    """Check one BGR (or grey) frame; see the module's description."""
    img = _scaled(frame)
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape[:2]
    brightness = float(gray.mean())
    outline = find_document(gray)
    mask = np.zeros((h, w), np.uint8)
    corners: tuple[tuple[float, float], ...] = ()
    if outline is not None:
        cv2.drawContours(mask, [outline], -1, 255, thickness=cv2.FILLED)
        box = cv2.boxPoints(cv2.minAreaRect(outline))
        corners = tuple((float(x) / w, float(y) / h) for x, y in box)
    else:
        mask[:] = 255
    inside = mask > 0
    share = float(inside.sum()) / (h * w) if outline is not None else 0.0
    saturated = gray >= SATURATED if img.ndim == 2 else np.all(img >= SATURATED, axis=2)
    glare = float(saturated[inside].mean()) if inside.any() else 0.0
    # The Laplacian's variance inside the document, away from its outline (whose edge is sharp anyway).
    inner = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 0 if outline is not None else inside
    if inner.any():
        laplacian = float(cv2.Laplacian(gray, cv2.CV_64F)[inner].var())
        sharpness = min(float(cv2.filter2D(gray, cv2.CV_64F, k)[inner].var()) for k in _SECOND_DERIVATIVES)
    else:
        laplacian = sharpness = 0.0
    if brightness < MIN_BRIGHTNESS:
        problem = "dark"
    elif outline is None:
        problem = "no_document"
    elif glare > MAX_GLARE_SHARE:
        problem = "glare"
    elif sharpness < MIN_SHARPNESS:
        problem = "blur"
    else:
        problem = ""
    return DocumentQuality(problem, brightness, share, sharpness, laplacian, glare, corners)
