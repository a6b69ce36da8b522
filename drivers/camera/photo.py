"""Document photos as the kiosk stores and sends them: sized for reading, not the camera's raw frame.

Chosen from ``bench/photo.py`` (docs/BENCHMARKS.md, "Document photos"): WebP at quality 60 with the longer
side at most 1600 px, the smallest setting measured that still reads every field both of fictional ID card
faces (large print: every setting down to 640 px read them) and of fictional A4 form pages in 五号 type (small
print: WebP q50 at 1280 px, JPEG q70 at 1600 px and AVIF q40 each lost values). On the document camera's
1920x1080 frames that is ~37 KB for a card photo instead of ~244 KB (JPEG q85 at full size, before). Encoding
takes ~90 ms on an idle core, off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LONGEST_SIDE = 1600
WEBP_QUALITY = 60


@dataclass(frozen=True)
class EncodedPhoto:
    data: bytes
    content_type: str
    extension: str  # with its dot: ".webp"


def fit(frame: np.ndarray, longest: int = LONGEST_SIDE) -> np.ndarray:
    """``frame`` scaled down (area interpolation) so its longer side is at most ``longest``."""
    h, w = frame.shape[:2]
    if max(h, w) <= longest:
        return frame
    scale = longest / max(h, w)
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def encode_document_photo(frame: np.ndarray) -> EncodedPhoto:
    """The camera frame (BGR or gray) as the kiosk keeps it. Raises RuntimeError if encoding fails."""
    ok, buf = cv2.imencode(".webp", fit(frame), [int(cv2.IMWRITE_WEBP_QUALITY), WEBP_QUALITY])
    if not ok:
        raise RuntimeError("photo encoding failed")
    return EncodedPhoto(buf.tobytes(), "image/webp", ".webp")


def photo_type(data: bytes) -> tuple[str, str]:
    """(content type, extension) of an encoded photo, from its first bytes: WebP, JPEG, PNG, else binary."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg", ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png", ".png"
    return "application/octet-stream", ".bin"
