"""The live decoding loop over successive frames (issue 18): rescue strategies spread over frames,
regions zxing-cpp located but could not decode read at full resolution in the next frames, small
modules read at full resolution, the box that covers the symbol kept, a clear error for no frame.
Real decoders, real generated frames; behaviour is asserted, never timings."""

from __future__ import annotations

import numpy as np
import pytest
import segno

from drivers.codes.pipeline import (
    LIVE,
    STILL,
    DecodePipeline,
    UnreadableFrame,
    merge_boxes,
    small_module_regions,
    to_gray,
)
from drivers.codes.testset import held_frames, make_sample


def _code(text: str, module: int, *, error: str = "m") -> np.ndarray:
    m = np.pad(np.array(segno.make_qr(text, error=error).matrix, np.uint8), 4)
    return np.kron(np.where(m == 1, 0, 255).astype(np.uint8), np.ones((module, module), np.uint8))


def _damaged_code(module: int, seed: int = 0) -> np.ndarray:
    """A version-5 QR whose finder and timing patterns are intact but whose data is noise: zxing-cpp
    locates it and can never decode it, whatever the strategy."""
    m = np.array(segno.make_qr("x" * 40, error="l", version=5).matrix, np.uint8)
    keep = np.zeros_like(m, bool)
    keep[:8, :8] = keep[:8, -8:] = keep[-8:, :8] = True
    keep[6, :] = keep[:, 6] = True
    noise = np.random.default_rng(seed).integers(0, 2, m.shape).astype(np.uint8)
    m = np.pad(np.where(keep, m, noise), 4)
    return np.kron(np.where(m == 1, 0, 255).astype(np.uint8), np.ones((module, module), np.uint8))


def _frame(*parts: tuple[np.ndarray, tuple[int, int]], background: int = 200) -> np.ndarray:
    frame = np.full((1080, 1920), background, np.uint8)
    for img, (x, y) in parts:
        frame[y:y + img.shape[0], x:x + img.shape[1]] = img
    return frame


# --- a clear error for no frame ------------------------------------------------------------------

@pytest.mark.parametrize("mode", [LIVE, STILL])
@pytest.mark.parametrize("bad", [None, np.zeros((0, 0), np.uint8), np.zeros((0, 0, 3), np.uint8),
                                 np.array([]), np.array([None, None], dtype=object), "frame.png"])
def test_decode_of_no_frame_is_a_clear_error(mode, bad):
    p = DecodePipeline(mode)
    with pytest.raises(UnreadableFrame, match="unreadable frame"):
        p.decode(bad)
    assert isinstance(UnreadableFrame("x"), ValueError)
    assert p.stats.frames == 0
    # the pipeline is unharmed: the next real frame is read
    assert [c.text for c in p.decode(_frame((_code("AFTER-BAD-FRAME", 6), (100, 100))))] == ["AFTER-BAD-FRAME"]


# --- strategies spread over frames ----------------------------------------------------------------

def test_each_frame_gets_the_full_resolution_read_and_the_next_strategy_in_turn():
    # No time budget and no spare-time extras: exactly the cheap pass, the full-resolution read of
    # the tracked region and one more strategy per frame, in the rotation's order.
    p = DecodePipeline(LIVE, rescue_budget_ms=None, soft_budget_ms=0)
    frame = _frame((_damaged_code(6), (800, 300)))
    order = [label for label, _ in p._strategies(to_gray(frame), (700, 200, 1200, 700), full_res=True)]
    assert order[0] == "full-res" and len(order) >= 9
    rotation = order[1:]
    for n in range(len(rotation) + 2):
        before = dict(p.stats.attempts)
        assert p.decode(frame) == []
        ran = {k: v - before.get(k, 0) for k, v in p.stats.attempts.items() if v != before.get(k, 0)}
        assert ran == {"full-res": 1, rotation[n % len(rotation)]: 1}, n
    assert p.tracked_regions(), "the located symbol is tracked"


def test_spare_time_in_a_frame_runs_further_strategies():
    p = DecodePipeline(LIVE, rescue_budget_ms=None, soft_budget_ms=1000)
    frame = _frame((_damaged_code(6), (800, 300)))
    p.decode(frame)
    assert len([k for k in p.stats.attempts if k != "full-res"]) >= 9  # the whole rotation at once


# --- located regions tracked and read at full resolution ------------------------------------------

def test_a_region_located_in_one_frame_is_read_at_full_resolution_in_the_next():
    rng = np.random.default_rng(3)
    # Fine random texture around the spot: the texture detector sees one large region there (too
    # large to be a small code), and at the gate scale it is grey mush.
    bg = (rng.integers(0, 2, (270, 270)) * 255).astype(np.uint8).repeat(2, 0).repeat(2, 1)
    small = _code("SMALL-MODULES-TRACKED", 2)
    located = _damaged_code(6)
    frame_a = _frame((bg, (760, 240)), (located, (900, 380)))
    frame_b = _frame((bg, (760, 240)), (small, (961, 441)))
    assert DecodePipeline(LIVE).decode(frame_b) == [], "precondition: nothing to find without a track"

    p = DecodePipeline(LIVE)
    assert p.decode(frame_a) == []
    (box,) = p.tracked_regions()
    x0, y0, x1, y1 = box
    assert x0 <= 960 and y0 <= 440 and x1 >= 960 + small.shape[1] and y1 >= 440 + small.shape[0]
    codes = p.decode(frame_b)
    assert [c.text for c in codes] == ["SMALL-MODULES-TRACKED"]
    assert p.stats.by_strategy.get("full-res") == 1
    xs = [x for x, _ in codes[0].position]
    assert min(xs) >= 950 and max(xs) <= 970 + small.shape[1]  # full-frame coordinates


def test_tracks_expire_and_reset_forgets_them():
    p = DecodePipeline(LIVE)
    p.decode(_frame((_damaged_code(6), (800, 300))))
    assert p.tracked_regions()
    empty = _frame()
    for _ in range(11):
        p.decode(empty)
    assert p.tracked_regions() == []
    p.decode(_frame((_damaged_code(6), (800, 300))))
    p.reset()
    assert p.tracked_regions() == []


def test_small_module_code_in_a_1080p_frame_is_read_on_the_first_frame():
    # 2-px modules become 1 px in the 960x540 gate image, where zxing-cpp cannot read them.
    code = _code("ezz://licence?type=bizlic&id=91110105MA01ABCD3X", 2)
    x0, y0 = 1301, 601  # odd: every gate pixel averages two modules
    frame = _frame((code, (x0, y0)))
    regions = small_module_regions(frame, 0.0)
    assert any(b[0] <= x0 + 20 and b[1] <= y0 + 20 and b[2] >= x0 + code.shape[1] - 20
               and b[3] >= y0 + code.shape[0] - 20 for b in regions)
    p = DecodePipeline(LIVE)
    assert [c.text for c in p.decode(frame)] == ["ezz://licence?type=bizlic&id=91110105MA01ABCD3X"]
    assert p.stats.found_first_pass == 0 and p.stats.by_strategy == {"full-res": 1}  # not at the gate


def test_held_frames_of_the_hard_set_are_read_within_ten_frames():
    # A handful of the hard 1080p set (small modules, moiré, glare): each held for 10 frames of fresh
    # sensor noise, as the benchmark does.
    hits = 0
    picks = [5, 9, 10, 11, 21, 22]
    kinds = set()
    for i in picks:
        s = make_sample(i, 7, hard=True)
        kinds.add(s.degradation)
        # no time budget, one strategy per frame: the same result on a loaded machine
        p = DecodePipeline(LIVE, rescue_budget_ms=None, soft_budget_ms=0)
        for img in held_frames(s, 10):
            if any(c.raw == s.payload and c.text == s.text for c in p.decode(img)):
                hits += 1
                break
    assert {"small_modules", "moire", "moire_glare", "glare"} <= kinds
    assert hits == len(picks)


def test_held_frames_differ_only_by_sensor_noise():
    s = make_sample(3, 7, hard=True)
    a, b = held_frames(s, 2)
    assert a.shape == (1080, 1920, 3) and not np.array_equal(a, b)
    assert float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) < 10
    assert np.array_equal(held_frames(s, 2)[0], a)  # deterministic


# --- candidate boxes: the covering one wins ------------------------------------------------------

def test_overlapping_boxes_keep_the_one_covering_the_symbol():
    cut = (100, 100, 180, 180)  # found first, cuts the symbol
    cover = (60, 60, 220, 220)  # covers it; its centre lies inside the first box
    assert merge_boxes([cut, cover]) == [cover]
    assert merge_boxes([cover, cut]) == [cover]


def test_partly_overlapping_boxes_become_their_union_and_others_stay_apart():
    a = (0, 0, 100, 100)
    b = (50, 0, 150, 100)
    far = (500, 500, 600, 600)
    huge = (0, 0, 1920, 1080)  # texture over half the frame: not the same symbol as a small box
    assert merge_boxes([a, b, far]) == [(0, 0, 150, 100), far]
    assert merge_boxes([a, huge]) == [a, huge]
    assert merge_boxes([(5, 5, 5, 50)]) == []


def test_a_code_cut_by_the_first_box_is_read_from_the_covering_one():
    code = _code("COVERING-BOX-WINS", 5)
    frame = _frame((code, (400, 300)))
    gray = to_gray(frame)
    side = code.shape[0]
    cut = (400 + side // 3, 300 + side // 3, 400 + side, 300 + side)
    cover = (380, 280, 420 + side, 320 + side)
    p = DecodePipeline(STILL)
    (box,) = merge_boxes([cut, cover])
    found = [c for _, fn in p._strategies(gray, box, full_res=True)[:1] for c in fn()]
    assert [c.text for c in found] == ["COVERING-BOX-WINS"]
    assert not [c for _, fn in p._strategies(gray, cut, full_res=True) for c in fn()]
