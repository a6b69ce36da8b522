"""The still pipeline's last resort (issue 18): the whole image restored (Wiener deconvolution of a
defocus blur, denoise then sharpen) when every box and every engine found nothing. A defocused code
has weak edges, so no candidate box isolates it, and the per-box strategies only sharpen or denoise.
Real decoders on generated frames (clutter from the test-set generator, a code rendered by segno);
read results and the strategy that read them are asserted, never timings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import segno

from drivers.codes.engines import ZxingEngine
from drivers.codes.pipeline import STILL, DecodePipeline, deconvolve, restore_whole, to_gray
from drivers.codes.testset import empty_frame

TEXT = "北京市朝阳区建外街道便民服务中心"  # UTF-8 with ECI: a version-4 symbol, 33 modules


def _code(module: int) -> np.ndarray:
    qr = segno.make_qr(TEXT, encoding="utf-8", eci=True, error="m")
    m = np.pad(np.array(qr.matrix, np.uint8), 4)
    return np.kron(np.where(m == 1, 0, 255).astype(np.uint8), np.ones((module, module), np.uint8))


def _defocused(seed: int, *, module: int = 4, blur: float = 2.6, noise: float = 3.0,
               size: tuple[int, int] = (1920, 1080)) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A cluttered frame with a slightly rotated code, the whole frame out of focus (Gaussian blur of
    ``blur`` px: two thirds of a module at the defaults) plus sensor noise; and the code's box."""
    rng = np.random.default_rng([seed, 18])
    w, h = size
    scene = to_gray(empty_frame("clutter", seed, 18))
    if scene.shape != (h, w):
        scene = cv2.resize(scene, (w, h), interpolation=cv2.INTER_LINEAR)
    code = _code(module)
    side = code.shape[0]
    x, y = int(rng.integers(60, w - side - 60)), int(rng.integers(60, h - side - 60))
    rot = cv2.getRotationMatrix2D((side / 2, side / 2), float(rng.uniform(-10, 10)), 1.0)
    rot[:, 2] += (x, y)
    warped = cv2.warpAffine(code, rot, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpAffine(np.full_like(code, 255), rot, (w, h), flags=cv2.INTER_LINEAR,
                           borderValue=0).astype(np.float32) / 255
    img = scene.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha
    img = cv2.GaussianBlur(img, (0, 0), blur) + rng.normal(0, noise, img.shape)
    margin = int(side * 0.1)
    return np.clip(img, 0, 255).astype(np.uint8), (x - margin, y - margin, x + side + margin, y + side + margin)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_defocused_code_is_read_by_the_restoration(seed):
    img, (x0, y0, x1, y1) = _defocused(seed)
    assert ZxingEngine().decode(img) == []  # zxing-cpp alone does not read it
    p = DecodePipeline(STILL)
    codes = p.decode(img)
    assert [(c.text, c.raw) for c in codes] == [(TEXT, TEXT.encode())]
    # every box, strategy and engine before it found nothing: this is what the still path used to miss
    assert p.stats.by_strategy == {"deblur-strong": 1}
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in codes[0].position)


@pytest.mark.slow
def test_a_large_photo_is_restored_at_1080p_scale_and_positions_map_back():
    # A 4K photo: the restoration runs on it halved (blur and modules halve with it).
    img, (x0, y0, x1, y1) = _defocused(3, module=8, blur=5.2, noise=3.0, size=(3840, 2160))
    labels = []
    for label, restored, scale in restore_whole(img):
        assert restored.shape == (1080, 1920) and scale == 0.5
        labels.append(label)
    assert labels == ["deblur-strong", "deblur-noisy", "denoise-sharpen"]
    p = DecodePipeline(STILL)
    codes = p.decode(img)
    assert [c.text for c in codes] == [TEXT]
    assert set(p.stats.by_strategy) <= {"deblur-strong", "deblur-noisy", "denoise-sharpen"}
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in codes[0].position)


def test_deconvolution_undoes_a_gaussian_blur():
    code = np.pad(_code(4), 40, constant_values=255)
    blurred = cv2.GaussianBlur(code.astype(np.float32), (0, 0), 2.6)
    blurred = np.clip(blurred + np.random.default_rng(5).normal(0, 2.0, blurred.shape), 0, 255).astype(np.uint8)
    (restored,) = deconvolve(blurred, [(3.0, 0.003)])
    assert restored.shape == code.shape and restored.dtype == np.uint8

    def err(img: np.ndarray) -> float:  # distance to the sharp code after the best linear fit
        a, b = np.polyfit(img.ravel().astype(np.float64), code.ravel().astype(np.float64), 1)
        return float(np.abs(a * img.astype(np.float64) + b - code).mean())

    assert err(restored) < 0.7 * err(blurred)
    z = ZxingEngine(try_rotate=False, try_downscale=False)
    assert z.decode(blurred) == []
    assert [c.text for c in z.decode(restored)] == [TEXT]


def test_restoration_invents_nothing_on_empty_frames():
    # Cluttered scenes go through every stage, the restoration included; its images are read for 2-D
    # codes only (ringing on clutter must not become bars). Pure sensor noise stops at the gate.
    p = DecodePipeline(STILL)
    for i in range(2):
        assert p.decode(empty_frame("clutter", i, 18)) == []
    assert {"deblur-strong", "deblur-noisy", "denoise-sharpen"} <= set(p.stats.attempts)
    p = DecodePipeline(STILL)
    assert p.decode(empty_frame("noise", 0, 18)) == []
    assert p.stats.early_exit == 1 and not p.stats.attempts
