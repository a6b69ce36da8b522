"""Camera OCR of identity documents: the resident ID card face and ICAO 9303 MRZ.

The production engine is RapidOCR (PP-OCR ONNX models shipped in the ``rapidocr`` wheel, run by
onnxruntime, loaded lazily once); Debian's tesseract is kept for comparison. See ``bench/ocr.py``.
"""

from drivers.ocr.engine import (
    OcrEngine,
    OcrEngineUnavailableError,
    OcrLine,
    RapidOcrEngine,
    TesseractEngine,
    default_engine,
)
from drivers.ocr.idcard_face import (
    CardNotFoundError,
    FaceRead,
    FieldMismatchError,
    FieldUnreadableError,
    IdNumberUnreadableError,
    OcrIdError,
    OcrIdReader,
    find_id_numbers,
    read_card_face,
)
from drivers.ocr.mrz import MrzError, MrzRecord, read_mrz
from drivers.ocr.mrz import parse as parse_mrz

__all__ = [
    "CardNotFoundError",
    "FaceRead",
    "FieldMismatchError",
    "FieldUnreadableError",
    "IdNumberUnreadableError",
    "MrzError",
    "MrzRecord",
    "OcrEngine",
    "OcrEngineUnavailableError",
    "OcrIdError",
    "OcrIdReader",
    "OcrLine",
    "RapidOcrEngine",
    "TesseractEngine",
    "default_engine",
    "find_id_numbers",
    "parse_mrz",
    "read_card_face",
    "read_mrz",
]
