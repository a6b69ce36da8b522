"""Offline OCR engines behind one small interface.

:class:`RapidOcrEngine` (the production engine) runs the PP-OCR ONNX models that ship inside the
``rapidocr`` wheel through ``onnxruntime``; model paths are passed explicitly so it never tries to
download anything. :class:`TesseractEngine` runs Debian's ``tesseract`` (``chi_sim``) as a subprocess;
it is kept for comparison in ``bench/ocr.py`` and as a fallback.

Both load lazily, once, on first use, and serialise calls with a lock, so one engine may be shared by
the UI's worker thread and a self-test. Nothing here logs recognised text.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)

Point = tuple[float, float]


class OcrEngineUnavailableError(RuntimeError):
    """The engine or its model files are missing or failed to load (no personal data in the message)."""


@dataclass(frozen=True, repr=False)
class OcrLine:
    """One recognised text line: its text, its box (4 points, clockwise from top-left) and confidence."""

    text: str
    box: tuple[Point, Point, Point, Point]
    score: float

    @property
    def x0(self) -> float:
        return min(p[0] for p in self.box)

    @property
    def x1(self) -> float:
        return max(p[0] for p in self.box)

    @property
    def y0(self) -> float:
        return min(p[1] for p in self.box)

    @property
    def y1(self) -> float:
        return max(p[1] for p in self.box)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def __repr__(self) -> str:  # text may be personal data
        return f"OcrLine(<{len(self.text)} chars>, x={self.x0:.0f}, y={self.y0:.0f}, score={self.score:.2f})"


class OcrEngine(Protocol):
    name: str

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        """Detect and recognise every text line in a BGR or grayscale image."""
        ...

    def recognize_line(self, image: np.ndarray) -> tuple[str, float]:
        """Recognise one text line already cropped (no detection): (text, confidence 0..1)."""
        ...

    def load(self) -> None:
        """Load models now (otherwise the first call does); raises OcrEngineUnavailableError."""
        ...


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def _box4(points: Any) -> tuple[Point, Point, Point, Point]:
    pts = [(float(p[0]), float(p[1])) for p in points]
    return (pts[0], pts[1], pts[2], pts[3])


RAPID_MODELS = {
    "det": "PP-OCRv6_det_small.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


def rapidocr_model_dir() -> Path | None:
    """The ``models`` folder inside the installed rapidocr package, or None when it is not installed."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "models"


class RapidOcrEngine:
    """RapidOCR 3.x with the PP-OCR ONNX models shipped in its wheel (onnxruntime, CPU).

    ``det_limit`` caps the longer side given to the text detector (smaller is faster; the warped card is
    856 px wide). ``threads`` caps onnxruntime's intra-op threads (None: all cores).
    """

    name = "rapidocr"

    def __init__(self, *, det_limit: int = 640, threads: int | None = None,
                 model_dir: str | Path | None = None) -> None:
        self.det_limit = det_limit
        self.threads = threads
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self._ocr: Any = None
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()

    def model_files(self) -> dict[str, Path]:
        root = self._model_dir or rapidocr_model_dir()
        if root is None:
            raise OcrEngineUnavailableError("rapidocr is not installed / 未安装 rapidocr")
        files = {}
        for kind, name in RAPID_MODELS.items():
            path = root / name
            if not path.is_file():  # another rapidocr release may ship other model versions
                found = sorted(root.glob(f"*_{kind}_*.onnx"))
                path = found[-1] if found else path
            files[kind] = path
        return files

    def load(self) -> None:
        if self._ocr is not None:
            return
        with self._load_lock:
            if self._ocr is not None:
                return
            files = self.model_files()
            missing = [k for k, p in files.items() if not p.is_file()]
            if missing:
                raise OcrEngineUnavailableError(f"rapidocr model files missing: {', '.join(missing)}")
            try:
                from rapidocr import RapidOCR
            except ImportError as e:  # pragma: no cover - depends on the installation
                raise OcrEngineUnavailableError(f"rapidocr cannot be imported: {type(e).__name__}") from e
            params: dict[str, Any] = {
                "Global.log_level": "error",
                "Global.use_cls": False,
                "Det.model_path": str(files["det"]),
                "Det.limit_side_len": self.det_limit,
                "Det.limit_type": "max",
                "Rec.model_path": str(files["rec"]),
                "Cls.model_path": str(files["cls"]),
            }
            if self.threads:
                params["EngineConfig.onnxruntime.intra_op_num_threads"] = self.threads
            try:
                ocr = RapidOCR(params=params)
                # Models load lazily inside rapidocr: force it now, offline, on a blank image.
                ocr(np.full((48, 160, 3), 255, np.uint8), use_det=True, use_cls=False, use_rec=True)
                ocr(np.full((48, 160, 3), 255, np.uint8), use_det=False, use_cls=False, use_rec=True)
            except Exception as e:
                raise OcrEngineUnavailableError(f"rapidocr failed to load: {type(e).__name__}") from e
            self._ocr = ocr
            log.info("rapidocr loaded (det limit %d)", self.det_limit)

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        self.load()
        img = _bgr(image)
        with self._call_lock:
            # rapidocr keeps use_* flags from the previous call: always pass all three.
            res = self._ocr(img, use_det=True, use_cls=False, use_rec=True)
        boxes = getattr(res, "boxes", None)
        txts = getattr(res, "txts", None)
        scores = getattr(res, "scores", None)
        if boxes is None or txts is None or scores is None:
            return []
        return [OcrLine(str(t), _box4(b), float(s)) for b, t, s in zip(boxes, txts, scores, strict=True)]

    def recognize_line(self, image: np.ndarray) -> tuple[str, float]:
        self.load()
        img = _bgr(image)
        with self._call_lock:
            res = self._ocr(img, use_det=False, use_cls=False, use_rec=True)
        txts = getattr(res, "txts", None) or ("",)
        scores = getattr(res, "scores", None) or (0.0,)
        return str(txts[0]), float(scores[0])


class TesseractEngine:
    """Debian's tesseract CLI (``tesseract-ocr`` + ``tesseract-ocr-chi-sim``), one process per call."""

    name = "tesseract"

    def __init__(self, *, lang: str = "chi_sim", psm: int = 11, binary: str = "tesseract",
                 timeout_s: float = 30.0) -> None:
        self.lang = lang
        self.psm = psm
        self.binary = binary
        self.timeout_s = timeout_s
        self._exe: str | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        if self._exe is not None:
            return
        with self._lock:
            exe = shutil.which(self.binary)
            if exe is None:
                raise OcrEngineUnavailableError("tesseract is not installed / 未安装 tesseract")
            try:
                out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True,
                                     timeout=self.timeout_s, check=False).stdout
            except (OSError, subprocess.TimeoutExpired) as e:
                raise OcrEngineUnavailableError(f"tesseract failed: {type(e).__name__}") from e
            langs = set(out.split())
            missing = [x for x in self.lang.split("+") if x not in langs]
            if missing:
                raise OcrEngineUnavailableError(f"tesseract language data missing: {', '.join(missing)}")
            self._exe = exe

    def _run(self, image: np.ndarray, psm: int, fmt: str) -> str:
        self.load()
        assert self._exe is not None
        ok, buf = cv2.imencode(".png", image)
        if not ok:
            raise OcrEngineUnavailableError("cannot encode image for tesseract")
        args = [self._exe, "stdin", "stdout", "-l", self.lang, "--psm", str(psm)]
        if fmt == "tsv":
            args.append("tsv")
        try:
            proc = subprocess.run(args, input=buf.tobytes(), capture_output=True, timeout=self.timeout_s,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise OcrEngineUnavailableError(f"tesseract failed: {type(e).__name__}") from e
        if proc.returncode != 0:
            raise OcrEngineUnavailableError(f"tesseract exited with status {proc.returncode}")
        return proc.stdout.decode("utf-8", "replace")

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        tsv = self._run(image, self.psm, "tsv")
        lines: dict[tuple[str, str, str], list[tuple[str, int, int, int, int, float]]] = {}
        for row in tsv.splitlines()[1:]:
            cols = row.split("\t")
            if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
                continue
            left, top, w, h = (int(c) for c in cols[6:10])
            lines.setdefault((cols[2], cols[3], cols[4]), []).append(
                (cols[11].strip(), left, top, w, h, float(cols[10])))
        out = []
        for words in lines.values():
            text = ""
            for word, *_ in words:
                if text and text[-1].isascii() and text[-1].isalnum() and word[0].isascii() and word[0].isalnum():
                    text += " "
                text += word
            x0 = min(w[1] for w in words)
            y0 = min(w[2] for w in words)
            x1 = max(w[1] + w[3] for w in words)
            y1 = max(w[2] + w[4] for w in words)
            score = max(0.0, min(1.0, sum(w[5] for w in words) / len(words) / 100))
            out.append(OcrLine(text, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), score))
        return out

    def recognize_line(self, image: np.ndarray) -> tuple[str, float]:
        return self._run(image, 7, "txt").strip(), 1.0


_default: OcrEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> OcrEngine:
    """The process-wide production engine (RapidOCR), created once; models load on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = RapidOcrEngine()
        return _default
