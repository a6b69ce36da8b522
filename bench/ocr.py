"""Benchmark: ID card face by camera and MRZ bands, per OCR engine, on the same synthetic fictional set.

Prints one JSON object. Run: ``.venv/bin/python -m bench.ocr [--n 40] [--mrz 40] [--seed 7]
[--severity 0.5] [--engines rapidocr,tesseract]``. Never used as a timed assert in tests.

Per engine: ID-number exact rate, wrong-number rate (a valid but different number: must stay 0), name /
address / nation exact rates, card-found rate, error codes, median and p95 ms per card; MRZ: raw line
read rate (after character clean-up only), line rate after the field-aware repair, parse rate (all check
digits agree) and exact-record rate, ms per band.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections import Counter
from typing import Any

import numpy as np

from drivers.ocr import mrz, synth
from drivers.ocr.engine import OcrEngine, OcrEngineUnavailableError, RapidOcrEngine, TesseractEngine
from drivers.ocr.idcard_face import OcrIdError, find_card, read_card_face

ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(xs), q)), 1) if xs else None


def bench_cards(engine: OcrEngine, samples: list[synth.Sample]) -> dict[str, Any]:
    n = len(samples)
    id_ok = wrong = name_ok = addr_ok = nation_ok = found = 0
    errors: Counter[str] = Counter()
    times: list[float] = []
    for s in samples:
        found += find_card(s.image) is not None
        t0 = time.perf_counter()
        try:
            rec = read_card_face(s.image, engine).record
        except OcrIdError as e:
            errors[e.code + (":" + str(getattr(e, "field", getattr(e, "reason", ""))))] += 1
            times.append((time.perf_counter() - t0) * 1000)
            continue
        times.append((time.perf_counter() - t0) * 1000)
        id_ok += rec.id_number == s.card.id_number
        wrong += rec.id_number != s.card.id_number
        name_ok += rec.name == s.card.name
        addr_ok += rec.address == s.card.address
        nation_ok += rec.nation == s.card.nation
    return {
        "cards": n,
        "id_number_exact": round(id_ok / n, 3),
        "id_number_wrong": round(wrong / n, 3),
        "name_exact": round(name_ok / n, 3),
        "address_exact": round(addr_ok / n, 3),
        "nation_exact": round(nation_ok / n, 3),
        "card_found": round(found / n, 3),
        "errors": dict(errors),
        "median_ms": round(statistics.median(times), 1) if times else None,
        "p95_ms": _pct(times, 95),
    }


def _yymmdd(rng: np.random.Generator, y0: int, y1: int) -> str:
    return f"{int(rng.integers(y0, y1)) % 100:02d}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"


def mrz_set(n: int, seed: int) -> list[tuple[list[str], np.ndarray]]:
    rng = np.random.default_rng(seed)

    def letters(k: int) -> str:
        return "".join(ALPHA[i] for i in rng.integers(0, 26, k))

    out = []
    for k in range(n):
        kw: dict[str, Any] = {
            "state": "CHN", "nationality": "CHN", "sex": "MF"[k % 2],
            "surname": letters(int(rng.integers(2, 9))), "given_names": letters(int(rng.integers(2, 8))),
            "number": "E" + "".join(str(d) for d in rng.integers(0, 10, 8)),
            "birth": _yymmdd(rng, 40, 100),
            "expiry": _yymmdd(rng, 27, 37),
        }
        lines = (mrz.compose_td3, mrz.compose_td1, mrz.compose_td2)[k % 3](**kw)
        out.append((lines, synth.render_mrz(lines, rng, degrade=float(rng.uniform(0.2, 0.8)))))
    return out


def bench_mrz(engine: OcrEngine, bands: list[tuple[list[str], np.ndarray]]) -> dict[str, Any]:
    raw_ok = fixed_ok = total = parsed = exact = 0
    times: list[float] = []
    for lines, img in bands:
        t0 = time.perf_counter()
        raw = mrz.read_mrz_lines(img, engine)
        fixed = mrz.repair(raw)
        rec = None
        with contextlib.suppress(mrz.MrzError):
            rec = mrz.parse(fixed or raw)
        times.append((time.perf_counter() - t0) * 1000)
        total += len(lines)
        cleaned = [mrz.clean_line(x) for x in raw]
        raw_ok += sum(1 for i, line in enumerate(lines) if i < len(cleaned) and cleaned[i] == line)
        fixed_ok += sum(1 for i, line in enumerate(lines) if fixed and i < len(fixed) and fixed[i] == line)
        if rec is not None:
            parsed += 1
            exact += rec == mrz.parse(lines)
    n = len(bands)
    return {
        "bands": n, "lines": total,
        "line_read_raw": round(raw_ok / total, 3),
        "line_read_repaired": round(fixed_ok / total, 3),
        "parse_ok": round(parsed / n, 3),
        "record_exact": round(exact / n, 3),
        "median_ms": round(statistics.median(times), 1) if times else None,
        "p95_ms": _pct(times, 95),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=40, help="synthetic cards per engine")
    ap.add_argument("--mrz", type=int, default=40, help="synthetic MRZ bands per engine")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--severity", type=float, default=0.5, help="camera-frame degradation 0..1")
    ap.add_argument("--engines", default="rapidocr,tesseract")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    samples = synth.generate(args.n, seed=args.seed, severity=args.severity)
    bands = mrz_set(args.mrz, args.seed + 1)
    gen_s = time.perf_counter() - t0
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "set": {"cards": args.n, "mrz_bands": args.mrz, "seed": args.seed, "severity": args.severity,
                "generate_s": round(gen_s, 1)},
        "engines": {},
    }
    engines: dict[str, tuple[OcrEngine, OcrEngine]] = {}
    for name in args.engines.split(","):
        if name == "rapidocr":
            r = RapidOcrEngine()
            engines[name] = (r, r)
        elif name == "tesseract":
            engines[name] = (TesseractEngine(lang="chi_sim", psm=11), TesseractEngine(lang="eng"))
        elif name == "tesseract-psm6":
            engines[name] = (TesseractEngine(lang="chi_sim", psm=6), TesseractEngine(lang="eng"))
        else:
            raise SystemExit(f"unknown engine {name}")
    for name, (card_engine, mrz_engine) in engines.items():
        try:
            t_load = time.perf_counter()
            card_engine.load()
            mrz_engine.load()
            load_ms = round((time.perf_counter() - t_load) * 1000, 1)
        except OcrEngineUnavailableError as e:
            result["engines"][name] = {"error": str(e)}
            continue
        entry: dict[str, Any] = {"load_ms": load_ms}
        if args.n:
            entry["idcard"] = bench_cards(card_engine, samples)
        if args.mrz:
            entry["mrz"] = bench_mrz(mrz_engine, bands)
        result["engines"][name] = entry
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
