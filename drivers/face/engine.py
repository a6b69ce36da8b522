"""Find a face and its five landmarks with dlib, describe it with two models, compare two descriptions.

A description is dlib's 128-number ResNet descriptor followed by HSE FaceRec's 1,024-number MobileNet
descriptor (unit length), one array. :func:`distance` fuses the two models' distances (see there): each model
alone misses more of the same person on a 1 KB card photo than the two together (bench/face.py).

Offline: the models are files from pinned packages (:mod:`drivers.face.models`), loaded once, lazily, on first
use (about 0.5 s). Images are BGR or grey uint8 arrays. A descriptor is personal data: never log it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from drivers.face.models import DESCRIPTOR_FILE, LANDMARKS_FILE, model_dir, second_descriptor_path

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

DLIB_SIZE = 128
SECOND_SIZE = 1024
# The second model's input: a square of SECOND_CROP times the detector's box, centred on it, as 224 x 224 RGB
# (0-255). The card's second descriptor is the mean of its crop and the crop mirrored.
SECOND_INPUT = 224
SECOND_CROP = 1.6
# distance() maps the second model's cosine distance onto dlib's scale by the two models' impostor statistics
# (mean and standard deviation over different people's card-vs-live pairs, bench/face.py "fusion"), then
# averages the two: a score on dlib's familiar scale where both models count alike.
DLIB_IMPOSTOR = (0.762, 0.082)  # mean, standard deviation: 149,177 pairs, 2026-12-06 (docs/BENCHMARKS.md)
SECOND_IMPOSTOR = (0.606, 0.072)


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
        self._loaded: tuple[Any, Any, Any, Any] | None = None

    def load(self) -> None:
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> tuple[Any, Any, Any, Any]:
        if self._loaded is None:
            import dlib  # type: ignore[import-untyped]  # a 4 MB extension: imported only by a kiosk that runs the face check
            import onnxruntime

            folder = model_dir()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1  # 224 x 224 once per attempt: leave the other core to the screen
            second = onnxruntime.InferenceSession(str(second_descriptor_path()), options,
                                                  providers=["CPUExecutionProvider"])
            self._loaded = (dlib.get_frontal_face_detector(),
                            dlib.shape_predictor(str(folder / LANDMARKS_FILE)),
                            dlib.face_recognition_model_v1(str(folder / DESCRIPTOR_FILE)), second)
        return self._loaded

    def find(self, image: np.ndarray) -> list[FoundFace]:
        """Every frontal face, largest first, in ``image``'s own coordinates."""
        rgb, scale = _prepared(image)
        with self._lock:
            detector, predictor, _, _ = self._load_locked()
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
        """The face's description (dlib's 128 numbers, then the second model's 1,024; compare with
        :func:`distance`). With ``jitters`` > 1 (the card), dlib's part is the mean over that many randomly
        jittered copies and the second model's the mean of the face and its mirror image."""
        shape, rgb = face.shape
        crop = _second_crop(rgb, shape.rect)
        batch = np.stack([crop, crop[:, ::-1]] if jitters > 1 else [crop]).astype(np.float32)
        with self._lock:
            _, _, model, second = self._load_locked()
            first = np.asarray(model.compute_face_descriptor(rgb, shape, jitters), dtype=np.float64)
            other = np.asarray(second.run(None, {second.get_inputs()[0].name: batch})[0], dtype=np.float64)
        other = other / np.linalg.norm(other, axis=1, keepdims=True)
        mean = other.mean(axis=0)
        return np.concatenate([first, mean / np.linalg.norm(mean)])

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
    """How different two faces are, on dlib's scale (0 the same image, about 0.8 on average for two people): the
    mean of dlib's Euclidean distance and the second model's cosine distance mapped onto dlib's impostor
    statistics. Two dlib-only descriptors (128 numbers) give dlib's distance alone."""
    first = dlib_distance(a, b)
    if len(a) != DLIB_SIZE + SECOND_SIZE or len(b) != DLIB_SIZE + SECOND_SIZE:
        return first
    mapped = DLIB_IMPOSTOR[0] + (second_distance(a, b) - SECOND_IMPOSTOR[0]) * DLIB_IMPOSTOR[1] / SECOND_IMPOSTOR[1]
    return 0.5 * (first + mapped)


def dlib_distance(a: np.ndarray, b: np.ndarray) -> float:
    """dlib's part alone (the bench's baseline)."""
    return float(np.linalg.norm(np.asarray(a)[:DLIB_SIZE] - np.asarray(b)[:DLIB_SIZE]))


def second_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The second model's cosine distance alone (the bench's other baseline)."""
    return 1.0 - float(np.asarray(a)[DLIB_SIZE:] @ np.asarray(b)[DLIB_SIZE:])


def _second_crop(rgb: np.ndarray, rect: Any) -> np.ndarray:
    """The square around the detector's box the second model reads, 224 x 224, edges repeated."""
    cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
    half = SECOND_CROP * max(rect.width(), rect.height()) / 2
    k = SECOND_INPUT / (2 * half)
    warp = np.array([[k, 0, -(cx - half) * k], [0, k, -(cy - half) * k]])
    return cv2.warpAffine(rgb, warp, (SECOND_INPUT, SECOND_INPUT), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


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
