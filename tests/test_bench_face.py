"""bench/face.py's matching on the seven test photos (tests/data/faces): each false non-match is counted under
the set it came from, and deepface's pairs are also compared without the card, so the report can say how much
the 1 KB card photo costs. The figures themselves come from the real sets (docs/BENCHMARKS.md); here only
the bookkeeping is checked, on real faces and the real engine."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import pytest

from bench import face as bench_face
from drivers.face.engine import FaceEngine

FACES = Path(__file__).resolve().parent / "data" / "faces"

pytestmark = pytest.mark.slow  # about 10 s: every photo described as a card (5 jittered copies) and live


def _orl_tree(root: Path) -> Path:
    for png in FACES.glob("orl_s*_*.png"):
        subject, number = png.stem.split("_")[1:]
        folder = root / "att_faces" / subject
        folder.mkdir(parents=True, exist_ok=True)
        image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        assert image is not None
        cv2.imwrite(str(folder / f"{number}.pgm"), image)
    return root / "att_faces"


def _deepface_tree(root: Path) -> Path:
    """deepface's layout: photos and face-recognition-pivot.csv; two photos of subject 4, one of subject 39."""
    folder = root / "dataset"
    folder.mkdir()
    for name in ("s4_1", "s4_7", "s39_9"):
        shutil.copy(FACES / f"orl_{name}.png", folder / f"{name}.png")
    with (folder / "face-recognition-pivot.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["file_x", "file_y", "decision"])
        out.writerow(["dataset/s4_1.png", "dataset/s4_7.png", "Yes"])
        out.writerow(["dataset/s4_1.png", "dataset/s39_9.png", "No"])
    return folder


def test_false_non_matches_are_counted_by_source_and_without_the_card(tmp_path: Path) -> None:
    engine = FaceEngine()
    orl = bench_face.load_orl(_orl_tree(tmp_path))
    deepface = bench_face.load_deepface(_deepface_tree(tmp_path), engine)
    assert len(orl) == 7 and len(deepface[1]) == 2
    report = bench_face.matching(engine, orl, deepface)
    enrolled = 7 - report["failed_to_enrol"]
    by_source = report["fnmr_by_source_at_shipped"]
    shipped = report["shipped"]
    # every genuine pair is counted once, under its own set
    assert by_source["orl"]["genuine_pairs"] + by_source["deepface"]["genuine_pairs"] == shipped["genuine_pairs"]
    assert by_source["deepface"]["genuine_pairs"] == 1
    assert by_source["orl"]["genuine_pairs"] <= 4 * 3 + 3 * 2 and enrolled >= 5
    failed = sum(round(s["fnmr"] * s["genuine_pairs"]) for s in by_source.values())
    assert failed == shipped["false_non_matches"]
    without = report["deepface_without_card"]
    assert without["genuine_pairs"] == 1 and without["impostor_pairs"] == 1
    assert without["false_matches"] == 0  # subject 4 against subject 39 at full resolution
