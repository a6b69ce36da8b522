"""Find a face, its five landmarks and its 128-number descriptor with dlib; compare two descriptors.

Offline: the models are files in a pinned wheel (:mod:`drivers.face.models`), loaded once, lazily, on first
use (about 0.4 s). Images are BGR or grey uint8 arrays. A descriptor is personal data: never log it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from drivers.face.models import DESCRIPTOR_FILE, LANDMARKS_FILE, model_dir

# Detection runs on a copy scaled so its longer side is at most this (a 640x480 frame is kept as is) and its
# shorter side at least MIN_SHORT (a 102x126 card photo is enlarged: the detector finds faces of 80 px and up).
MAX_LONG = 640
MIN_SHORT = 320
# The card photo's descriptor is the mean over this many slightly jittered copies of its face (dlib's
# num_jitters): the 1 KB card photo is the noisier side, and it is described once per attempt, so the extra
# ~0.3 s is affordable. bench/face.py: FNMR 4.7 % -> 4.4 % at FMR <= 0.1 % on its set (docs/BENCHMARKS.md).
# Averaging live frames, CLAHE or equalisation on both sides, or shrinking the live face to the card's
# resolution did not help there (measured, same set). dlib draws the jitters at random: +-0.01 per number.
CARD_JITTERS = 5


@dataclass(frozen=True)
class FoundFace:
    """One face in the image given: its box (x, y, w, h) and five points (2 per eye corner pair, nose)."""

    box: tuple[int, int, int, int]
    points: np.ndarray  # shape (5, 2), float, image coordinates
    shape: Any  # dlib.full_object_detection, for the descriptor

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


class FaceEngine:
    """Thread-safe (dlib's objects are used under one lock; a check runs one frame at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None

    def load(self) -> None:
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> tuple[Any, Any, Any]:
        if self._loaded is None:
            import dlib  # type: ignore[import-untyped]  # a 4 MB extension: imported only by a kiosk that runs the face check

            folder = model_dir()
            self._loaded = (dlib.get_frontal_face_detector(),
                            dlib.shape_predictor(str(folder / LANDMARKS_FILE)),
                            dlib.face_recognition_model_v1(str(folder / DESCRIPTOR_FILE)))
        return self._loaded

    def find(self, image: np.ndarray) -> list[FoundFace]:
        """Every frontal face, largest first, in ``image``'s own coordinates."""
        rgb, scale = _prepared(image)
        with self._lock:
            detector, predictor, _ = self._load_locked()
            rects = detector(rgb, 0)
            if not rects and min(rgb.shape[:2]) <= MIN_SHORT:
                rects = detector(rgb, 1)  # a small image: once more at twice the size
            faces = []
            for rect in rects:
                shape = predictor(rgb, rect)
                pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64) / scale
                box = (int(rect.left() / scale), int(rect.top() / scale),
                       int(rect.width() / scale), int(rect.height() / scale))
                faces.append(FoundFace(box, pts, (shape, rgb)))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def descriptor(self, face: FoundFace, jitters: int = 0) -> np.ndarray:
        """The face's 128-number descriptor (unit-free; same person: distance below ~0.5); with ``jitters`` > 1,
        the mean over that many randomly jittered copies (each costs one more pass of the network)."""
        shape, rgb = face.shape
        with self._lock:
            _, _, model = self._load_locked()
            return np.asarray(model.compute_face_descriptor(rgb, shape, jitters), dtype=np.float64)

    def describe(self, image: np.ndarray, jitters: int = 0) -> tuple[FoundFace, np.ndarray] | None:
        """The largest face and its descriptor, or None when no face is found."""
        faces = self.find(image)
        if not faces:
            return None
        return faces[0], self.descriptor(faces[0], jitters)

    def describe_card(self, image: np.ndarray) -> tuple[FoundFace, np.ndarray] | None:
        """The card photo's face and descriptor (:data:`CARD_JITTERS` jittered copies), or None."""
        return self.describe(image, CARD_JITTERS)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors: 0 the same image, above ~0.6 different people."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def _prepared(image: np.ndarray) -> tuple[np.ndarray, float]:
    if image.ndim == 2:
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    scale = 1.0
    if max(h, w) > MAX_LONG:
        scale = MAX_LONG / max(h, w)
    elif min(h, w) < MIN_SHORT:
        scale = min(MIN_SHORT / min(h, w), MAX_LONG / max(h, w))
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=interp)
    return np.ascontiguousarray(rgb), scale
