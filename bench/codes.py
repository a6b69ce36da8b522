"""Benchmark: every decoding engine alone and the pipeline, on the same generated degraded set.

Prints one JSON object. Run: ``.venv/bin/python -m bench.codes [--n 200] [--seed 7] [--quick]``.
Targets: pipeline success >= 97 % and above the best single engine, median <= 10 ms,
empty 1080p <= 5 ms, 100 % Chinese payloads exact. Never used as a timed assert in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from drivers.codes.engines import OpenCVEngine, ZbarEngine, ZxingEngine
from drivers.codes.pipeline import LIVE, DecodePipeline, to_gray
from drivers.codes.testset import Sample, empty_frame, generate
from drivers.interfaces import DecodedCode

CHINESE_KINDS = ("utf8_eci", "utf8", "gbk")


def _pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def run_one(name: str, decode: Callable[[Any], Sequence[DecodedCode]], samples: list[Sample],
            empties: list[tuple[str, np.ndarray]], gray_input: bool) -> dict[str, Any]:
    ok = 0
    times: list[float] = []
    by_deg: dict[str, list[int]] = {}
    chinese_read = chinese_exact = 0
    wrong = 0
    for s in samples:
        img = to_gray(s.image) if gray_input else s.image
        t0 = time.perf_counter()
        codes = decode(img)
        times.append((time.perf_counter() - t0) * 1000)
        hit = any(c.raw == s.payload and c.text == s.text for c in codes)
        same_bytes = [c for c in codes if c.raw == s.payload]
        wrong += sum(1 for c in codes if c.raw != s.payload)
        ok += hit
        d = by_deg.setdefault(s.degradation, [0, 0])
        d[0] += hit
        d[1] += 1
        if s.payload_kind in CHINESE_KINDS and same_bytes:
            chinese_read += 1
            chinese_exact += any(c.text == s.text for c in same_bytes)
    empty_ms: dict[str, list[float]] = {"clutter": [], "noise": []}
    for kind, img in empties:
        x = to_gray(img) if gray_input else img
        t0 = time.perf_counter()
        decode(x)
        empty_ms[kind].append((time.perf_counter() - t0) * 1000)
    return {
        "engine": name,
        "success_pct": round(100.0 * ok / len(samples), 1),
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(_pct(times, 95), 2),
        "empty_1080p_clutter_ms": round(statistics.median(empty_ms["clutter"]), 2),
        "empty_1080p_noise_ms": round(statistics.median(empty_ms["noise"]), 2),
        "chinese_exact_pct": round(100.0 * chinese_exact / chinese_read, 1) if chinese_read else None,
        "chinese_read": chinese_read,
        "wrong_payloads": wrong,
        "by_degradation": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_deg.items())},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200, help="degraded frames (default 200)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--empty", type=int, default=10, help="empty 1080p frames of each kind")
    ap.add_argument("--quick", action="store_true", help="n=40, 4 empty frames, no plain OpenCV")
    args = ap.parse_args(argv)
    n, n_empty = (min(args.n, 40), 4) if args.quick else (args.n, args.empty)
    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    t0 = time.perf_counter()
    samples = generate(n, args.seed)
    empties = [(k, empty_frame(k, i, args.seed)) for i in range(n_empty) for k in ("clutter", "noise")]
    gen_s = time.perf_counter() - t0

    engines: list[tuple[str, Callable[[Any], Sequence[DecodedCode]], bool]] = [
        ("zxing-qr", ZxingEngine().decode, True),
        ("pyzbar-qr-binary", ZbarEngine(qr_only=True).decode, True),
        ("opencv-aruco", OpenCVEngine("aruco").decode, True),
    ]
    if not args.quick:
        engines.append(("opencv-plain", OpenCVEngine("plain").decode, True))
    pipeline = DecodePipeline(LIVE)
    # The pipeline takes the camera's BGR frame: its grayscale conversion is part of its time.
    engines.append(("pipeline-live", pipeline.decode, False))

    results = [run_one(name, fn, samples, empties, gray) for name, fn, gray in engines]
    best_single = max(r["success_pct"] for r in results[:-1])
    pipe = results[-1]
    report = {
        "set": {"frames": n, "seed": args.seed, "frame_size": "1280x720", "empty_frames_each": n_empty,
                "generation_s": round(gen_s, 1)},
        "machine": {"python": platform.python_version(), "opencv": cv2.__version__},
        "engines": results,
        "pipeline_stats": {
            "found_first_pass": pipeline.stats.found_first_pass,
            "found_rescue": pipeline.stats.found_rescue,
            "early_exit": pipeline.stats.early_exit,
            "by_strategy": pipeline.stats.by_strategy,
        },
        "targets": {
            "pipeline_success_ge_97": pipe["success_pct"] >= 97.0,
            "pipeline_above_best_single": pipe["success_pct"] > best_single,
            "median_le_10ms": pipe["median_ms"] <= 10.0,
            "empty_1080p_le_5ms": max(pipe["empty_1080p_clutter_ms"], pipe["empty_1080p_noise_ms"]) <= 5.0,
            "chinese_exact_100": pipe["chinese_exact_pct"] == 100.0,
        },
    }
    json.dump(report, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
