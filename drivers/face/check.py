"""One 人证核验 attempt, frame by frame: find the face, compare it with the card's photo, then the turn prompt.

Feed camera frames to :meth:`FaceCheck.feed` (from a worker thread: a frame costs 50-300 ms on 2 cores); each
returns a :class:`Step` saying what to tell the resident, and at the end the :class:`Outcome`. Nothing here
keeps a frame after the attempt except the frontal face crop the caller may ask for (the catalogue item decides
whether it goes into the sealed submission).

The threshold (:data:`MATCH_THRESHOLD`) is chosen in bench/face.py from measured error rates on the two models'
fused distance (drivers/face/engine.py): the largest distance on a 0.005 grid whose false-match rate on the
benchmark set stays within 0.1 % was 0.53 (0.093 %); we ship one step below it, 0.525 (0.073 %), for margin on a
small set (docs/BENCHMARKS.md). 90.9 % of the same person's pairs there score below :data:`HIGH_BAND`, and no
two people did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from drivers.face.engine import FaceEngine, FoundFace, distance
from drivers.face.liveness import TurnChallenge, TurnState, yaw_ratio

# The two models' fused distance (drivers/face/engine.py distance). bench/face.py, 2026-12-06: FMR 0.073 %,
# FNMR 2.8 % on its card-quality set (dlib alone, shipped before at 0.495: 4.85 % in the same run).
MATCH_THRESHOLD = 0.525
HIGH_BAND = 0.45  # below (no false match in 149,177 pairs there): 高 (high similarity); to the threshold 中; else 低
SAME_FACE = 0.60  # the turned face must be the frontal one (a swapped photo is another face)
PARALLAX = 0.10  # the nose must move past where a flat face would put it, in eye distances, to the asked side
TURN_FRAMES = 2  # in this many frames in a row: one frame's landmark or tracking error is no turn
MIN_EYE_SPAN_FRACTION = 0.06  # eyes closer than this share of the frame's width: the face is too far


class Prompt:
    """What the screen and the voice say next (keys of kiosk/i18n: face.prompt.<value>)."""

    NO_FACE = "no_face"  # 请把脸放进椭圆框里
    TOO_FAR = "too_far"  # 请靠近一点
    LOOK = "look"  # 请看着屏幕，不要动
    TURN_LEFT = "turn_left"  # 请慢慢向左转头
    TURN_RIGHT = "turn_right"
    DONE = "done"


@dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str  # match | mismatch | liveness | no_face | no_card_photo
    distance: float | None
    band: str  # high | medium | low | none

    def as_record(self) -> dict[str, object]:
        """The attempt for the sealed submission: no image, no descriptor."""
        return {"passed": self.passed, "reason": self.reason, "band": self.band,
                "distance": None if self.distance is None else round(self.distance, 3)}


def band_of(dist: float | None, threshold: float = MATCH_THRESHOLD) -> str:
    if dist is None:
        return "none"
    if dist < HIGH_BAND:
        return "high"
    return "medium" if dist < threshold else "low"


@dataclass
class Step:
    prompt: str
    outcome: Outcome | None = None


@dataclass
class _Frontal:
    grey: np.ndarray
    face: FoundFace
    descriptor: np.ndarray
    dist: float


@dataclass
class FaceCheck:
    engine: FaceEngine
    card_descriptor: np.ndarray
    challenge: TurnChallenge = field(default_factory=TurnChallenge)
    threshold: float = MATCH_THRESHOLD
    time_limit_s: float = 25.0
    started: float = field(default_factory=time.monotonic)
    frontal: _Frontal | None = None
    face_seen: bool = False
    turn_hits: int = 0

    def feed(self, frame: np.ndarray) -> Step:
        faces = self.engine.find(frame)
        if time.monotonic() - self.started > self.time_limit_s:
            return self._timed_out()
        if not faces:
            return Step(Prompt.NO_FACE)
        self.face_seen = True
        face = faces[0]
        if _eye_span(face) < MIN_EYE_SPAN_FRACTION * frame.shape[1]:
            return Step(Prompt.TOO_FAR)
        ratio = yaw_ratio(face.points)
        if self.frontal is None:
            return self._frontal_step(frame, face, ratio)
        return self._turn_step(frame, face, ratio)

    def crop(self) -> np.ndarray | None:
        """The frontal face (box enlarged by half), for an item that keeps the image; else None."""
        if self.frontal is None:
            return None
        x, y, w, h = self.frontal.face.box
        g = self.frontal.grey
        x0, y0 = max(0, x - w // 4), max(0, y - h // 4)
        return g[y0:y + h + h // 4, x0:x + w + w // 4].copy()

    def _frontal_step(self, frame: np.ndarray, face: FoundFace, ratio: float) -> Step:
        if self.challenge.feed(ratio) is TurnState.WAIT_FRONTAL:
            return Step(Prompt.LOOK)
        descriptor = self.engine.descriptor(face)
        dist = distance(descriptor, self.card_descriptor)
        if dist >= self.threshold:
            return Step(Prompt.DONE, Outcome(False, "mismatch", dist, band_of(dist, self.threshold)))
        self.frontal = _Frontal(_grey(frame), face, descriptor, dist)
        return Step(self._turn_prompt())

    def _turn_step(self, frame: np.ndarray, face: FoundFace, ratio: float) -> Step:
        assert self.frontal is not None
        if self.challenge.feed(ratio) is not TurnState.PASSED:
            self.turn_hits = 0
            return Step(self._turn_prompt())
        self.challenge.state = TurnState.WAIT_TURN  # until the checks below hold long enough
        grey = _grey(frame)
        moved = nose_parallax(self.frontal.grey, self.frontal.face, grey, face)
        sign = 1.0 if self.challenge.direction == "left" else -1.0
        if moved is None or moved * sign < PARALLAX:
            self.turn_hits = 0  # a flat picture turned: keep asking until time runs out
            return Step(self._turn_prompt())
        self.turn_hits += 1
        if self.turn_hits < TURN_FRAMES:
            return Step(self._turn_prompt())
        if distance(self.engine.descriptor(face), self.frontal.descriptor) >= SAME_FACE:
            self.turn_hits = 0
            return Step(self._turn_prompt())
        dist = self.frontal.dist
        return Step(Prompt.DONE, Outcome(True, "match", dist, band_of(dist, self.threshold)))

    def _turn_prompt(self) -> str:
        return Prompt.TURN_LEFT if self.challenge.direction == "left" else Prompt.TURN_RIGHT

    def _timed_out(self) -> Step:
        if self.frontal is not None:
            return Step(Prompt.DONE, Outcome(False, "liveness", self.frontal.dist,
                                             band_of(self.frontal.dist, self.threshold)))
        return Step(Prompt.DONE, Outcome(False, "no_face", None, "none"))


def nose_parallax(grey0: np.ndarray, face0: FoundFace, grey1: np.ndarray, face1: FoundFace) -> float | None:
    """How far the nose base moved beyond where a flat face would have carried it, in eye distances, along the
    eye line of the second frame (positive: toward the image's right, the resident's left).

    Corners on the face away from the nose are tracked (Lucas-Kanade) from the first frame into the second; a
    homography fitted to them (RANSAC) is where a flat picture's points go. The detected nose is compared with
    the nose carried by that homography. None when too little could be tracked."""
    x, y, w, h = face0.box
    span0 = _eye_span(face0)
    corners = cv2.goodFeaturesToTrack(grey0, 200, 0.01, max(3, w // 30))
    if corners is None:
        return None
    pts = corners.reshape(-1, 2)
    inside = (pts[:, 0] > x) & (pts[:, 0] < x + w) & (pts[:, 1] > y) & (pts[:, 1] < y + h)
    away = np.linalg.norm(pts - face0.points[4], axis=1) > 0.6 * span0
    start = pts[inside & away].astype(np.float32).reshape(-1, 1, 2)
    if len(start) < 8:
        return None
    moved, status, _err = cv2.calcOpticalFlowPyrLK(grey0, grey1, start, None, winSize=(21, 21), maxLevel=3)
    ok = status.ravel() == 1
    if ok.sum() < 8:
        return None
    homography, _inliers = cv2.findHomography(start.reshape(-1, 2)[ok], moved.reshape(-1, 2)[ok], cv2.RANSAC,
                                              0.03 * span0)
    if homography is None:
        return None
    carried = cv2.perspectiveTransform(face0.points[4].reshape(1, 1, 2), homography).reshape(2)
    eye_a, eye_b = face1.points[0:2].mean(axis=0), face1.points[2:4].mean(axis=0)
    span1 = float(np.linalg.norm(eye_a - eye_b))
    if span1 < 1e-6:
        return None
    return float(np.dot(face1.points[4] - carried, (eye_a - eye_b) / span1) / span1)


def _eye_span(face: FoundFace) -> float:
    return float(np.linalg.norm(face.points[0:2].mean(axis=0) - face.points[2:4].mean(axis=0)))


def _grey(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
