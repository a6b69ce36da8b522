"""The decoding pipeline on a small generated degraded set, with real decoders (no mocks)."""

from __future__ import annotations

import threading

import pytest

from drivers.codes.engines import ZxingEngine
from drivers.codes.pipeline import LIVE, STILL, Debouncer, DecodePipeline, to_gray
from drivers.codes.testset import empty_frame, generate
from drivers.health import HealthState
from drivers.interfaces import DecodedCode

N = 30
SEED = 11


@pytest.fixture(scope="module")
def samples():
    return generate(N, SEED)


@pytest.fixture(scope="module")
def live_results(samples):
    p = DecodePipeline(LIVE)
    return p, [p.decode(s.image) for s in samples]


def _hit(codes, s):
    return any(c.raw == s.payload and c.text == s.text for c in codes)


def test_pipeline_success_floor_and_beats_zxing_alone(samples, live_results):
    _, results = live_results
    hits = sum(_hit(codes, s) for codes, s in zip(results, samples, strict=True))
    zx = ZxingEngine()
    zx_hits = sum(_hit(zx.decode(to_gray(s.image)), s) for s in samples)
    # Measured on this set: pipeline 29/30 (the sharpened gate pass and crop rescue), zxing-cpp
    # alone 27/30. On the 200-frame benchmark set: 98.0 % vs 89.5 %.
    assert hits >= 29, f"pipeline read {hits}/{N}"
    assert hits > zx_hits


def test_no_wrong_payloads(samples, live_results):
    _, results = live_results
    for codes, s in zip(results, samples, strict=True):
        for c in codes:
            assert c.raw == s.payload


def test_every_chinese_payload_read_is_exact(samples, live_results):
    _, results = live_results
    chinese = [(codes, s) for codes, s in zip(results, samples, strict=True)
               if s.payload_kind in ("utf8_eci", "utf8", "gbk")]
    assert {s.payload_kind for _, s in chinese} == {"utf8_eci", "utf8", "gbk"}
    for codes, s in chinese:
        for c in codes:
            assert c.text == s.text, s.payload_kind


def test_binary_payload_stays_binary(samples, live_results):
    _, results = live_results
    seen = 0
    for codes, s in zip(results, samples, strict=True):
        if s.payload_kind == "binary":
            for c in codes:
                seen += 1
                assert c.text is None and c.charset is None and c.raw == s.payload
    assert seen >= 4


@pytest.mark.parametrize("kind", ["clutter", "noise"])
def test_empty_frames_give_nothing(kind):
    p = DecodePipeline(LIVE)
    assert p.decode(empty_frame(kind, 0, 5)) == []
    assert p.stats.frames == 1


@pytest.mark.parametrize("kind", ["clutter", "noise"])
def test_empty_1080p_frames_exit_before_any_rescue(kind):
    # The live loop decodes every camera frame: an empty frame must stop at the gate (the two
    # zxing-cpp passes), or at a full-resolution look at code-like texture (printed text in a
    # cluttered scene) and one cheap zxing-cpp strategy a frame on it; never at the expensive
    # engines. Counted, not timed.
    p = DecodePipeline(LIVE)
    for i in range(3):
        assert p.decode(empty_frame(kind, i, 3)) == []
    assert not set(p.stats.attempts) & {"contrast", "pyzbar", "opencv"}
    assert sum(v for k, v in p.stats.attempts.items() if k != "full-res") <= 3 * p.max_candidates
    if kind == "noise":
        assert p.stats.early_exit == 3


def _code_frame(qr, module: int, size: tuple[int, int], at: tuple[int, int], invert: bool = False):
    import numpy as np

    m = np.pad(np.array(qr.matrix, np.uint8), 4)
    img = np.kron(np.where(m == 1, 0, 255).astype(np.uint8), np.ones((module, module), np.uint8))
    if invert:
        img = 255 - img
    w, h = size
    frame = np.full((h, w), 255 if invert else 128, np.uint8)
    x, y = at
    frame[y:y + img.shape[0], x:x + img.shape[1]] = img
    return frame, (x, y, x + img.shape[1], y + img.shape[0])


def test_1080p_frame_is_read_at_gate_scale_with_full_resolution_positions():
    import segno

    qr = segno.make_qr("1080p-gate", error="m")
    frame, (x0, y0, x1, y1) = _code_frame(qr, 6, (1920, 1080), (1500, 700))
    codes = DecodePipeline(LIVE).decode(frame)
    assert [c.text for c in codes] == ["1080p-gate"]
    xs = [x for x, _ in codes[0].position]
    ys = [y for _, y in codes[0].position]
    assert x0 - 8 <= min(xs) and max(xs) <= x1 + 8 and y0 - 8 <= min(ys) and max(ys) <= y1 + 8


def test_inverted_code_is_read_in_live_mode():
    import segno

    qr = segno.make_qr("DARK-MODE-PHONE", error="m")
    frame, _ = _code_frame(qr, 5, (1280, 720), (400, 200), invert=True)
    assert [c.text for c in DecodePipeline(LIVE).decode(frame)] == ["DARK-MODE-PHONE"]


def test_positions_map_to_the_frame(samples, live_results):
    _, results = live_results
    for codes in results:
        for c in codes:
            assert c.position is not None
            for x, y in c.position:
                assert -50 <= x <= 1330 and -50 <= y <= 770


def test_health_and_selftest():
    p = DecodePipeline(STILL)
    assert p.health.snapshot().state is HealthState.UNKNOWN
    report = p.selftest()
    assert report["ok"] is True
    snap = p.health.snapshot()
    assert snap.state is HealthState.OK and snap.last_error is None


def test_grayscale_bgra_and_tiny_inputs(samples):
    p = DecodePipeline(LIVE)
    s = samples[0]
    gray = to_gray(s.image)
    import cv2

    bgra = cv2.cvtColor(s.image, cv2.COLOR_BGR2BGRA)
    assert _hit(p.decode(gray), s) == _hit(p.decode(bgra), s)
    assert p.decode(gray[:10, :10]) == []


@pytest.mark.parametrize("mode", [STILL, LIVE])
def test_thread_safe_on_workers(samples, mode):
    # A live pipeline carries tracked regions from frame to frame (and stops by a time budget), so
    # which frame reads a hard code can depend on the order; the still pipeline has no such state.
    p = DecodePipeline(mode, rescue_budget_ms=None, soft_budget_ms=0)
    subset = samples[:8]
    expected = [_hit(p.decode(s.image), s) for s in subset]
    got: dict[int, bool] = {}

    def work(i: int) -> None:
        got[i] = _hit(p.decode(subset[i].image), subset[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(subset))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    if mode == STILL:
        assert [got[i] for i in range(len(subset))] == expected
    else:
        assert sum(got.values()) >= sum(expected) - 1
    assert p.stats.frames == 2 * len(subset) and p.stats.engine_errors == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_debouncer_reports_once_per_hold_period():
    clock = FakeClock()
    d = Debouncer(hold_s=3.0, clock=clock)
    a = DecodedCode("QRCode", b"payload-a", "payload-a", "utf-8")
    b = DecodedCode("QRCode", b"payload-b", "payload-b", "utf-8")
    assert d.accept(a)
    assert not d.accept(a)
    assert d.accept(b)
    clock.now += 2.9
    assert d.filter([a, b]) == []
    clock.now += 0.2
    assert d.filter([a, a, b]) == [a, b]
    d.reset()
    assert d.accept(a)
    with pytest.raises(ValueError):
        Debouncer(hold_s=-1)


def test_debouncer_holds_no_payload():
    d = Debouncer(clock=FakeClock())
    secret = b"11010519491231002X"
    d.accept(DecodedCode("QRCode", secret, secret.decode(), "utf-8"))
    assert all(secret not in k for k in d._last)
