"""The face check's second descriptor as setup makes it (devtools/face_model.py): from the pinned npm package,
converted to ONNX, the result pinned by its sha256. A package that is not the pinned one, or a graph with an
operation the converter does not know, stops with the reason and writes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from devtools import face_model
from drivers.face.models import SECOND_DESCRIPTOR_FILE, second_descriptor_path

pytestmark = pytest.mark.slow  # reads the 145 MB package and converts it (about 5 s)


@pytest.fixture(scope="module")
def package() -> Path:
    cached = face_model.CACHE / f"human-models-{face_model.VERSION}.tgz"
    assert cached.is_file(), "scripts/setup.sh fetches the package into build/npm"
    return cached


def test_setup_installed_the_pinned_model() -> None:
    path = second_descriptor_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == face_model.OUTPUT_SHA256


def test_the_package_converts_to_the_pinned_model_and_it_describes_a_face(package: Path, tmp_path: Path) -> None:
    path = face_model.install(package, target=tmp_path)
    assert path == tmp_path / SECOND_DESCRIPTOR_FILE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == face_model.OUTPUT_SHA256
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    grey = np.full((1, 224, 224, 3), 128, np.float32)
    out = session.run(None, {session.get_inputs()[0].name: grey})[0]
    assert out.shape == (1, 1024) and np.isfinite(out).all()


def test_a_package_that_is_not_the_pinned_one_is_refused(package: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "human-models.tgz"
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(face_model.FaceModelError, match="sha512 integrity differs"):
        face_model.install(tampered, target=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_conversion_that_gives_another_model_is_refused(package: Path, tmp_path: Path) -> None:
    with pytest.raises(face_model.FaceModelError, match="not the pinned"):
        face_model.install(package, target=tmp_path, expect="0" * 64)
    assert not (tmp_path / SECOND_DESCRIPTOR_FILE).exists()


def test_an_operation_the_converter_does_not_know_is_named() -> None:
    graph = {"weightsManifest": [], "modelTopology": {"node": [
        {"name": "x", "op": "Placeholder"}, {"name": "y", "op": "Conv3D", "input": ["x"]}]}}
    with pytest.raises(face_model.FaceModelError, match="Conv3D"):
        face_model.convert(graph, b"")


def test_weights_that_do_not_fill_the_file_are_refused() -> None:
    manifest = [{"paths": ["m.bin"], "weights": [{"name": "w", "shape": [2], "dtype": "float32"}]}]
    with pytest.raises(face_model.FaceModelError, match="weights take 8 bytes, the file has 12"):
        face_model.weights(manifest, b"\0" * 12)
