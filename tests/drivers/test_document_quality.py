"""The document camera's quality check (issue 14, finding 6): document found, blur, glare, darkness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from drivers.camera.quality import assess

STAND = (70, 80, 75)


def _document(w: int = 1280, h: int = 960, *, angle: float = 0.0, seed: int = 1) -> np.ndarray:
    """A printed page (dark text on light paper) lying slightly askew on a dark, noisy stand."""
    rng = np.random.default_rng(seed)
    img = (np.full((h, w, 3), STAND, np.int16) + rng.integers(-8, 8, (h, w, 3))).clip(0, 255).astype(np.uint8)
    page = np.full((620, 760, 3), (226, 229, 231), np.uint8)
    for y in range(50, 600, 34):
        cv2.putText(page, "ZHONGHUA RENMIN GONGHEGUO 110101", (30, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                    (30, 30, 30), 2)
    m = cv2.getRotationMatrix2D((380, 310), angle, 1.0)
    m[:, 2] += np.array([(w - 760) / 2, (h - 620) / 2])
    mask = cv2.warpAffine(np.full((620, 760), 255, np.uint8), m, (w, h))
    warped = cv2.warpAffine(page, m, (w, h))
    img[mask > 0] = warped[mask > 0]
    return img


@pytest.mark.parametrize("angle", [0.0, 4.0, -9.0])
def test_a_sharp_document_is_usable_and_found_where_it_lies(angle: float) -> None:
    q = assess(_document(angle=angle))
    assert q.ok, q.as_dict()
    assert 0.3 < q.document_share < 0.5
    xs = [x for x, _y in q.corners]
    ys = [y for _x, y in q.corners]
    assert 0.12 < min(xs) < 0.25 and 0.75 < max(xs) < 0.88, q.corners
    assert 0.08 < min(ys) < 0.25 and 0.75 < max(ys) < 0.92, q.corners


def test_out_of_focus_and_shaken_photos_are_blurred() -> None:
    doc = _document()
    assert assess(cv2.GaussianBlur(doc, (0, 0), 5)).problem == "blur"
    sideways = np.full((1, 41), 1 / 41, np.float32)  # a hand moving during the exposure
    assert assess(cv2.filter2D(doc, -1, sideways)).problem == "blur"
    assert assess(cv2.filter2D(doc, -1, sideways.T)).problem == "blur"
    assert assess(cv2.filter2D(doc, -1, np.eye(31, dtype=np.float32) / 31)).problem == "blur"
    assert assess(cv2.GaussianBlur(doc, (0, 0), 1.5)).ok, "slight softness is still readable"
    assert assess(cv2.filter2D(doc, -1, np.full((1, 9), 1 / 9, np.float32))).ok, "so is a slight tremor"


def test_a_lamp_reflection_is_glare_but_a_small_highlight_is_not() -> None:
    doc = _document()
    cv2.ellipse(doc, (640, 480), (190, 110), 0, 0, 360, (255, 255, 255), -1)
    assert assess(doc).problem == "glare"
    small = _document()
    cv2.circle(small, (500, 400), 12, (255, 255, 255), -1)
    assert assess(small).ok


def test_an_empty_stand_has_no_document_and_a_dark_frame_is_dark() -> None:
    rng = np.random.default_rng(3)
    empty = (np.full((960, 1280, 3), STAND, np.int16) + rng.integers(-8, 8, (960, 1280, 3))).clip(0, 255)
    assert assess(empty.astype(np.uint8)).problem == "no_document"
    assert assess((_document() * 0.15).astype(np.uint8)).problem == "dark"


def test_grey_frames_and_small_frames_work() -> None:
    doc = _document()
    assert assess(cv2.cvtColor(doc, cv2.COLOR_BGR2GRAY)).ok
    assert assess(cv2.resize(doc, (480, 360), interpolation=cv2.INTER_AREA)).ok
