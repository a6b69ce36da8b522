"""Reading a still image from a file, with limits, for ``kiosk-scan`` and ``kiosk provision --qr``.

A PNG of 0.9 MB can say it is 30000 x 30000 pixels: OpenCV decoded it into 5.4 GB in 22 s. So the size is
read from the file's header first (Pillow opens lazily: ``Image.open`` parses the header and decodes
nothing), and an image over :data:`MAX_PIXELS` is refused before any pixel is decoded. An empty file, a
file too large to be a photo, a format neither library knows and a file OpenCV fails on are each an
:class:`ImageRefused` with a clear message, never a ``cv2.error`` traceback.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

MAX_PIXELS = 40_000_000  # 40 megapixels: above any document camera or phone photo a technician brings
MAX_FILE_BYTES = 64 * 1024 * 1024


class ImageRefused(ValueError):
    """An image file that will not be decoded; the message says why, for the person who gave it."""


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image's header, without decoding its pixels."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
        except Image.DecompressionBombError as exc:
            raise ImageRefused(f"image too large (more than {MAX_PIXELS // 1_000_000} megapixels); "
                               "take a smaller photo") from exc
        except UnidentifiedImageError as exc:
            raise ImageRefused("not a readable image (no image format this kiosk reads)") from exc
        except Exception as exc:  # a damaged header: Pillow raises OSError, SyntaxError, struct.error...
            raise ImageRefused("not a readable image (its header is damaged)") from exc
    return int(width), int(height)


def read_still(path: Path, *, flags: int | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode the image at ``path`` (``cv2.imdecode`` with ``flags``, default ``IMREAD_COLOR``).

    Raises ``OSError`` for a file that cannot be read (missing, a folder, no permission) and
    :class:`ImageRefused` for one that must not or cannot be decoded."""
    import cv2

    size = path.stat().st_size
    if size == 0:
        raise ImageRefused("empty file")
    if size > MAX_FILE_BYTES:
        raise ImageRefused(f"file too large for an image ({size // (1024 * 1024)} MiB; at most "
                           f"{MAX_FILE_BYTES // (1024 * 1024)} MiB)")
    data = path.read_bytes()
    width, height = image_size(data)
    if width <= 0 or height <= 0:
        raise ImageRefused("not a readable image (no pixels)")
    if width * height > max_pixels:
        raise ImageRefused(f"image too large: {width}x{height} pixels ({width * height / 1e6:.0f} megapixels; "
                           f"at most {max_pixels / 1e6:.0f}); take a smaller photo")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR if flags is None else flags)
    except cv2.error as exc:
        raise ImageRefused("not a readable image") from exc
    if image is None or image.size == 0:
        raise ImageRefused("not a readable image")
    if image.shape[0] * image.shape[1] > max_pixels:  # the header lied the other way
        raise ImageRefused(f"image too large (more than {max_pixels / 1e6:.0f} megapixels)")
    return image
