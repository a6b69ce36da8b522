"""``kiosk-scan IMAGE... [--json]``: decode codes in still images with the production pipeline.

With ``--json`` prints one object per image per line::

    {"file": str, "codes": [{"format": str, "text": str|null, "bytes_hex": str, "charset": str|null}],
     "error": str|null}

A missing, empty or unreadable file, and an image over the pixel cap (``drivers.still_image``: checked in
its header before anything is decoded), gives an entry with ``error`` set (and exit status 1), never a
traceback. Without ``--json`` prints one human-readable line per image.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _read_image(path: Path) -> np.ndarray:
    import cv2

    from drivers.still_image import read_still

    # OSError for missing/unreadable files; ImageRefused (a ValueError) for empty, unknown, damaged or
    # too many pixels (checked in the header, before anything is decoded).
    img = read_still(path, flags=cv2.IMREAD_UNCHANGED)
    if img.dtype != np.uint8:  # 16-bit PNG/TIFF
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1.0, float(img.max())))
    return img


def scan_file(path: str, pipeline: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"file": path, "codes": [], "error": None}
    p = Path(path)
    try:
        if not p.exists():
            raise FileNotFoundError("no such file")
        if p.is_dir():
            raise IsADirectoryError("is a directory")
        image = _read_image(p)
    except (OSError, ValueError) as exc:
        entry["error"] = f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) \
            else f"{type(exc).__name__}: {exc}"
        return entry
    codes = pipeline.decode(image)
    entry["codes"] = [
        {"format": c.format, "text": c.text, "bytes_hex": c.raw.hex(), "charset": c.charset} for c in codes
    ]
    return entry


def main(argv: list[str] | None = None) -> int:
    from drivers.codes.pipeline import STILL, DecodePipeline

    parser = argparse.ArgumentParser(prog="kiosk-scan", description="Decode codes in still images.")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--json", action="store_true", help="one JSON object per image per line")
    args = parser.parse_args(argv)
    pipeline = DecodePipeline(STILL, name="kiosk-scan")
    status = 0
    for path in args.images:
        entry = scan_file(path, pipeline)
        if entry["error"] is not None:
            status = 1
        if args.json:
            print(json.dumps(entry, ensure_ascii=False), flush=True)
        elif entry["error"] is not None:
            print(f"{path}: error: {entry['error']}", flush=True)
        elif not entry["codes"]:
            print(f"{path}: no code found", flush=True)
        else:
            parts = []
            for c in entry["codes"]:
                shown = c["text"] if c["text"] is not None else f"<binary {len(c['bytes_hex']) // 2} bytes>"
                parts.append(f"{c['format']} [{c['charset'] or 'binary'}] {shown}")
            print(f"{path}: " + " | ".join(parts), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
