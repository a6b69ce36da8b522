"""Benchmark: document photos, bytes against legibility, per format and quality.

Prints one JSON object. Run: ``.venv/bin/python -m bench.photo [--n 8] [--pages 3] [--seed 11] [--severity 0.3]``.
Never used as a timed assert in tests.

Each sample is a synthetic fictional ID card face placed in a frame of the document camera's real
resolution (1920x1080, ``drivers/registry.py``), as the camera hands it over (no JPEG yet). Every setting
encodes the frame, decodes it again and runs the production OCR (``drivers.ocr`` RapidOCR, the same
``read_card_face`` as ``kiosk`` uses) on what the central would receive. A setting is *legible* when every
field (ID number, name, nation, address) reads exactly as often as on the raw frame (the control).

An ID card face is large print. The second set is the small print a street office also photographs: a
fictional A4 form page (五号, ~10.5 pt, text) filling the frame's height, read with the same OCR models
(detector limit raised to the frame's size, as a reviewer would zoom in); a setting is legible on pages when
it reads as many of the pages' field values exactly as the raw frame does.
Per setting: mean bytes per photo, fields read, encode ms (on the kiosk, off the UI thread).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

import cv2
import numpy as np

from drivers.ocr import synth
from drivers.ocr.engine import RapidOcrEngine
from drivers.ocr.idcard_face import OcrIdError, read_card_face

CAMERA = (1920, 1080)  # the document camera's configured resolution (drivers/registry.py)

# (name, extension, OpenCV parameters, longest side or None for the full frame)
SETTINGS: list[tuple[str, str, list[int], int | None]] = [
    ("jpeg q85 full (before)", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 85], None),
    ("jpeg q70 full", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 70], None),
    ("jpeg q50 full", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 50], None),
    ("jpeg q70 1600", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 70], 1600),
    ("jpeg q60 1280", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 60], 1280),
    ("webp q70 full", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 70], None),
    ("webp q50 full", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 50], None),
    ("webp q60 1600", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 60], 1600),
    ("webp q50 1280", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 50], 1280),
    ("avif q60 full", ".avif", [cv2.IMWRITE_AVIF_QUALITY, 60, cv2.IMWRITE_AVIF_SPEED, 8], None),
    ("avif q40 full", ".avif", [cv2.IMWRITE_AVIF_QUALITY, 40, cv2.IMWRITE_AVIF_SPEED, 8], None),
    ("avif q50 1280", ".avif", [cv2.IMWRITE_AVIF_QUALITY, 50, cv2.IMWRITE_AVIF_SPEED, 8], 1280),
    # past the cliff: where legibility starts to go
    ("jpeg q40 1024", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 40], 1024),
    ("webp q30 1024", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 30], 1024),
    ("webp q30 800", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 30], 800),
    ("webp q20 640", ".webp", [cv2.IMWRITE_WEBP_QUALITY, 20], 640),
]


def resize_longest(frame: np.ndarray, longest: int | None) -> np.ndarray:
    h, w = frame.shape[:2]
    if longest is None or max(h, w) <= longest:
        return frame
    scale = longest / max(h, w)
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def fields_read(image: np.ndarray, card: synth.CardData, engine: RapidOcrEngine) -> dict[str, bool]:
    try:
        rec = read_card_face(image, engine).record
    except OcrIdError:
        return {"id_number": False, "name": False, "nation": False, "address": False}
    return {"id_number": rec.id_number == card.id_number, "name": rec.name == card.name,
            "nation": rec.nation == card.nation, "address": rec.address == card.address}


PAGE_LABELS = ("姓名", "身份证号", "联系电话", "住址", "申请事项", "申请日期", "工作单位", "备注")


def page_sample(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """A fictional A4 form page (8 labelled values in 五号 type) photographed to fill a 1920x1080 frame."""
    from PIL import Image, ImageDraw, ImageFont

    card = synth.random_card(rng)
    values = [card.name, card.id_number, f"1{int(rng.integers(30, 99))}{int(rng.integers(10**7, 10**8))}",
              card.address[:14], "城乡居民基本医疗保险参保登记",
              f"2026年{int(rng.integers(1, 13))}月{int(rng.integers(1, 29))}日",
              "某某街道社区服务站", "材料齐全，申请人已签字确认"]
    page = Image.new("RGB", (2480, 3508), (250, 250, 246))  # A4 at 300 dpi
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(synth.cjk_font_path(), 44)  # 五号 (10.5 pt) at 300 dpi
    draw.text((300, 250), "社会保障业务申请表", font=ImageFont.truetype(synth.cjk_font_path(), 80), fill=(20, 20, 20))
    for i, (label, value) in enumerate(zip(PAGE_LABELS, values, strict=True)):
        draw.text((300, 500 + i * 160), f"{label}：{value}", font=font, fill=(25, 25, 25))
    page_img = cv2.cvtColor(np.asarray(page), cv2.COLOR_RGB2BGR)
    h = CAMERA[1] - 40
    w = round(page_img.shape[1] * h / page_img.shape[0])
    small = cv2.resize(page_img, (w, h), interpolation=cv2.INTER_AREA)
    frame = np.full((CAMERA[1], CAMERA[0], 3), 70, np.uint8)
    x0 = (CAMERA[0] - w) // 2
    frame[20:20 + h, x0:x0 + w] = small
    frame = cv2.GaussianBlur(frame, (0, 0), 0.6)
    noisy = frame.astype(np.float32) + rng.normal(0, 3, frame.shape).astype(np.float32)
    return values, np.clip(noisy, 0, 255).astype(np.uint8)


def page_values_read(image: np.ndarray, values: list[str], engine: RapidOcrEngine) -> int:
    text = "".join(line.text for line in engine.recognize(image)).replace(" ", "")
    return sum(v in text for v in values)


def samples(n: int, seed: int, severity: float) -> list[tuple[synth.CardData, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        card = synth.random_card(rng)
        frame = synth.place_in_frame(synth.render_card(card, rng), rng,
                                     synth.FrameParams(width=CAMERA[0], height=CAMERA[1], severity=severity,
                                                       jpeg=False))
        out.append((card, frame))
    return out


def run(n: int, seed: int, severity: float, pages: int) -> dict[str, Any]:
    engine = RapidOcrEngine()
    page_engine = RapidOcrEngine(det_limit=max(CAMERA))
    rng = np.random.default_rng(seed + 1)
    page_set = [page_sample(rng) for _ in range(pages)]
    page_want = sum(page_values_read(frame, values, page_engine) for values, frame in page_set)
    data = samples(n, seed, severity)
    control = [fields_read(frame, card, engine) for card, frame in data]
    want = {k: sum(c[k] for c in control) for k in control[0]}
    results = []
    for name, ext, params, longest in SETTINGS:
        sizes, enc_ms, got = [], [], dict.fromkeys(want, 0)
        for (card, frame), _ in zip(data, control, strict=True):
            t0 = time.perf_counter()
            ok, buf = cv2.imencode(ext, resize_longest(frame, longest), params)
            enc_ms.append((time.perf_counter() - t0) * 1000)
            assert ok
            sizes.append(len(buf))
            decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            for k, v in fields_read(decoded, card, engine).items():
                got[k] += v
        page_bytes, page_got = [], 0
        for values, frame in page_set:
            ok, buf = cv2.imencode(ext, resize_longest(frame, longest), params)
            page_bytes.append(len(buf))
            page_got += page_values_read(cv2.imdecode(buf, cv2.IMREAD_COLOR), values, page_engine)
        results.append({"setting": name, "mean_bytes": round(statistics.mean(sizes)),
                        "max_bytes": max(sizes), "fields_read": got,
                        "legible": all(got[k] >= want[k] for k in want),
                        "page_mean_bytes": round(statistics.mean(page_bytes)) if page_bytes else None,
                        "page_values_read": page_got, "page_legible": page_got >= page_want,
                        "encode_ms_median": round(statistics.median(enc_ms), 1)})
    return {"bench": "photo", "n": n, "seed": seed, "severity": severity, "frame": list(CAMERA),
            "control_fields_read": want, "pages": pages,
            "control_page_values_read": page_want, "page_values": pages * len(PAGE_LABELS), "settings": results,
            "load": os.getloadavg(), "python": platform.python_version(), "opencv": cv2.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--severity", type=float, default=0.3)
    ap.add_argument("--pages", type=int, default=3, help="fictional A4 form pages (small print)")
    a = ap.parse_args()
    print(json.dumps(run(a.n, a.seed, a.severity, a.pages), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
