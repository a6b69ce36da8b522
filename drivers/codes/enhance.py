"""Image preparation for the decode pipeline: grayscale, noise estimate, fast downscaling, sharpening,
contrast stretching, and the stills' last resort, the whole image restored (Wiener deconvolution of a
defocus blur, denoise then sharpen). Pure functions of numpy arrays; see ``drivers.codes.pipeline``."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

RESTORE_MAX_WIDTH = 1920  # stills: the whole-image restoration runs on at most this width
# stills, last resort: (label, Gaussian blur sigma in px, noise-to-signal ratio) of the Wiener
# deconvolutions tried on the whole image: strong defocus, and milder blur with sensor noise
DEBLUR = (("deblur-strong", 3.0, 0.003), ("deblur-noisy", 1.5, 0.03))


def to_gray(image: Any) -> np.ndarray:
    """A contiguous 2-D uint8 view/copy of a grayscale, BGR or BGRA numpy image."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return np.ascontiguousarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return np.ascontiguousarray(arr[:, :, 0])
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"unsupported image shape {arr.shape}")


def noise_level(gray: np.ndarray) -> float:
    """Median absolute difference of horizontal neighbours on every 8th row (~0.1 ms on 1080p).
    Clean camera frames give 0-3; heavy sensor noise 30+."""
    rows = np.ascontiguousarray(gray[::8, :])
    diffs = cv2.absdiff(rows[:, 1:], rows[:, :-1])
    # the median through a 256-bin histogram: several times faster than np.median's sort
    hist = cv2.calcHist([diffs], [0], None, [256], [0, 256]).ravel()
    return float(np.searchsorted(np.cumsum(hist), (diffs.size + 1) // 2))


def downscale(gray: np.ndarray, f: int) -> np.ndarray:
    """``gray`` reduced ``f`` times by area averaging; powers of two go through OpenCV's fast 2x
    path (a direct 3x/4x INTER_AREA resize of 1080p costs ~1 ms, 2x steps ~0.1 ms each)."""
    h, w = gray.shape
    out = gray
    while f > 1 and f % 2 == 0:
        out = cv2.resize(out, (out.shape[1] // 2, out.shape[0] // 2), interpolation=cv2.INTER_AREA)
        f //= 2
        h, w = out.shape
    if f > 1:
        out = cv2.resize(out, (w // f, h // f), interpolation=cv2.INTER_AREA)
    return out


def sharpen(img: np.ndarray, k: int = 7, amount: float = 2.5) -> np.ndarray:
    """Box-blur unsharp mask with saturation: restores blurred edges and stretches low local
    contrast (~0.3 ms on 960x540)."""
    return cv2.addWeighted(img, 1 + amount, cv2.blur(img, (k, k)), -amount, 0)


def _unsharp(img: np.ndarray, sigma: float = 2.0, amount: float = 1.5) -> np.ndarray:
    blurred = cv2.GaussianBlur(img, (0, 0), sigma)
    return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)


def _stretch_clahe(img: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img, (1, 99))
    if hi - lo >= 4:
        img = cv2.convertScaleAbs(img, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(img)


# stills of one camera share a size: keep that size's filters (~20 ms to make, 9 MB each on 1080p)
@functools.lru_cache(maxsize=len(DEBLUR))
def _wiener_filter(shape: tuple[int, int], sigma: float, nsr: float) -> np.ndarray:
    """The Wiener filter ``H / (H^2 + nsr)`` for a Gaussian blur of ``sigma`` px (``H``: its transfer
    function, real and separable), as a (h, w, 1) float32 array for a (h, w, 2) DFT spectrum."""
    h, w = shape
    c = np.float32(-2.0 * np.pi ** 2 * sigma ** 2)
    fy = np.fft.fftfreq(h).astype(np.float32)
    fx = np.fft.fftfreq(w).astype(np.float32)
    hf = np.outer(np.exp(c * fy * fy), np.exp(c * fx * fx))
    return (hf / (hf * hf + np.float32(nsr)))[:, :, None]


def deconvolve(gray: np.ndarray, params: Iterable[tuple[float, float]]) -> Iterable[np.ndarray]:
    """``gray`` restored by Wiener deconvolution of a Gaussian blur, once per ``(sigma, nsr)`` in
    ``params``, lazily (the image's spectrum is computed once), each scaled onto 0-255. The image is
    mirrored at its edges first, so the frame border does not ring into the picture."""
    pad = 16
    h0, w0 = gray.shape
    hh, ww = cv2.getOptimalDFTSize(h0 + 2 * pad), cv2.getOptimalDFTSize(w0 + 2 * pad)
    padded = cv2.copyMakeBorder(gray, pad, hh - h0 - pad, pad, ww - w0 - pad, cv2.BORDER_REFLECT)
    spectrum = cv2.dft(padded.astype(np.float32), flags=cv2.DFT_COMPLEX_OUTPUT)
    for sigma, nsr in params:
        out = cv2.idft(spectrum * _wiener_filter((hh, ww), sigma, nsr),
                       flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        # scaled linearly onto 0-255, not clipped: the code's contrast grows with the stretch
        # (zxing-cpp's local binarizer skips blocks with a range under 24 grey levels)
        yield cv2.normalize(out[pad:pad + h0, pad:pad + w0], None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U)


def restore_whole(gray: np.ndarray) -> Iterable[tuple[str, np.ndarray, float]]:
    """The stills' last resort: ``(label, restored image, scale)`` for the whole image (reduced to at
    most ``RESTORE_MAX_WIDTH`` px wide; ``scale`` maps its positions back). Lazily, cheapest and most
    successful first: Wiener deconvolutions of a strong and of a milder, noisy blur (``DEBLUR``),
    then a denoise (Gaussian, 0.6 px) followed by an unsharp mask, for a noisy, slightly blurred code
    whose modules the per-box strategies either smooth away or sharpen together with the noise."""
    f = max(1, -(-gray.shape[1] // RESTORE_MAX_WIDTH))
    img = downscale(gray, f) if f > 1 else gray
    scale = 1.0 / f
    labels = [label for label, _, _ in DEBLUR]
    for label, out in zip(labels, deconvolve(img, [(s, n) for _, s, n in DEBLUR]), strict=True):
        yield label, out, scale
    yield "denoise-sharpen", _unsharp(cv2.GaussianBlur(img, (0, 0), 0.6), 2.0, 2.0), scale
