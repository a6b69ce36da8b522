"""Synthetic presentation attacks for tests and bench/face.py: a face photo printed, or shown on a phone screen,
held up to the camera and turned, tilted and rolled as an attacker answering the turn prompt would. Synthesised
(no public replay set could be had offline), so the liveness figures measure these simulations, not real
attacks: bench/face.py says so. The geometry is exact (a flat picture rotated in 3D, seen through a pinhole
camera); the print and screen textures are approximations.

- print: the photo as a halftone (dots on a 45-degree grid, as laser and inkjet printers make them), on paper
  in a lit room, tilted, filmed: perspective, blur, noise, a light gradient;
- screen: the photo on an RGB sub-pixel grid, filmed at a scale that does not divide the grid (moiré), a
  glare patch and a phone's black bezel around it.
"""

from __future__ import annotations

import cv2
import numpy as np


def _frame_around(picture: np.ndarray, rng: np.random.Generator, size: tuple[int, int],
                  pose: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """``picture`` (BGR), a flat sheet rotated by ``pose`` (yaw, pitch, roll in degrees) about its centre, seen
    by a pinhole camera (60-degree field of view) filling most of a ``size`` (w, h) frame."""
    w, h = size
    frame = np.full((h, w, 3), int(rng.integers(60, 140)), np.uint8)
    ph, pw = picture.shape[:2]
    focal = w / (2 * np.tan(np.radians(30)))
    extent = 0.85 * min(w / pw, h / ph)  # the sheet's size on screen when square-on, as a factor of its pixels
    depth = focal / extent
    yaw, pitch, roll = (np.radians(a) for a in pose)
    rot_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    rot_z = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    corners = np.array([[-pw / 2, -ph / 2, 0], [pw / 2, -ph / 2, 0], [pw / 2, ph / 2, 0], [-pw / 2, ph / 2, 0]])
    moved = corners @ (rot_z @ rot_x @ rot_y).T + np.array([0, 0, depth])
    shift = rng.uniform(-0.03, 0.03, 2) * np.array([w, h])
    dst = np.stack([focal * moved[:, 0] / moved[:, 2] + w / 2 + shift[0],
                    focal * moved[:, 1] / moved[:, 2] + h / 2 + shift[1]], axis=1).astype(np.float32)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    cv2.warpPerspective(picture, matrix, (w, h), dst=frame, borderMode=cv2.BORDER_TRANSPARENT,
                        flags=cv2.INTER_AREA)
    return frame


def _camera(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.5, 0.9)).astype(np.float32)
    out += rng.normal(0, rng.uniform(1.5, 3.5), out.shape)
    ok, jpeg = cv2.imencode(".jpg", np.clip(out, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:  # pragma: no cover - OpenCV always round-trips its own JPEG
        raise ValueError("cannot encode the simulated frame")
    return np.asarray(decoded)


def _colour(face: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(face, cv2.COLOR_GRAY2BGR) if face.ndim == 2 else face


def printed(face: np.ndarray, seed: int = 0, size: tuple[int, int] = (640, 480),
            pose: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A camera frame of ``face`` printed as halftone on paper, held up at ``pose`` (yaw, pitch, roll)."""
    rng = np.random.default_rng(seed)
    grey = cv2.cvtColor(_colour(face), cv2.COLOR_BGR2GRAY)
    target = 900  # the print as the camera's optics resolve it (an A5 print at 40 cm)
    scale = target / max(grey.shape)
    big = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    pitch = rng.uniform(5.0, 7.0)
    yy, xx = np.mgrid[0:big.shape[0], 0:big.shape[1]].astype(np.float32)
    u, v = (xx + yy) / np.sqrt(2), (xx - yy) / np.sqrt(2)
    cell = (np.cos(2 * np.pi * u / pitch) + np.cos(2 * np.pi * v / pitch)) / 4 + 0.5  # 0..1 dot profile
    ink = (cell > big).astype(np.float32)  # darker tone, bigger dot
    paper = 1.0 - 0.85 * ink
    light = np.linspace(rng.uniform(0.75, 0.9), rng.uniform(0.95, 1.05), paper.shape[1], dtype=np.float32)
    picture = np.clip(paper * light[None, :] * 235, 0, 255).astype(np.uint8)
    return _camera(_frame_around(cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR), rng, size, pose), rng)


def on_screen(face: np.ndarray, seed: int = 0, size: tuple[int, int] = (640, 480),
              pose: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A camera frame of ``face`` on a phone screen (sub-pixel grid, glare, bezel) held up at ``pose``."""
    rng = np.random.default_rng(seed)
    colour = _colour(face)
    cells = 200  # the screen's pixels across the face, as the camera sees them
    scale = cells / max(colour.shape[:2])
    small = cv2.resize(colour, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sub = 6  # each screen pixel: three vertical stripes, 2 camera-scale px each, and a dark row gap
    grid = np.repeat(np.repeat(small, sub, axis=0), sub, axis=1).astype(np.float32)
    mask = np.zeros((sub, sub, 3), np.float32)
    for channel, (lo, hi) in zip((2, 1, 0), ((0, 2), (2, 4), (4, 6)), strict=True):  # R G B in BGR order
        mask[:, :, channel] = 0.25
        mask[: sub - 1, lo:hi, channel] = 1.0
    tiles = np.tile(mask, (small.shape[0], small.shape[1], 1))
    lit = grid * tiles * 1.3
    ys, xs = np.mgrid[0:lit.shape[0], 0:lit.shape[1]].astype(np.float32)
    cx, cy = rng.uniform(0.2, 0.8) * lit.shape[1], rng.uniform(0.2, 0.8) * lit.shape[0]
    glare = 90 * np.exp(-(((xs - cx) / (0.25 * lit.shape[1])) ** 2 + ((ys - cy) / (0.2 * lit.shape[0])) ** 2))
    lit = np.clip(lit + glare[..., None], 0, 255).astype(np.uint8)
    bezel = int(0.08 * max(lit.shape[:2]))
    phone = cv2.copyMakeBorder(lit, bezel, bezel, bezel // 2, bezel // 2, cv2.BORDER_CONSTANT, value=(12, 12, 12))
    return _camera(_frame_around(phone, rng, size, pose), rng)


def live_frame(face: np.ndarray, seed: int = 0, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A bona fide camera frame of a face photo (the person themself, for tests): enlarged to the size a
    resident's face has at the kiosk, same background and camera effects, no print or screen pattern."""
    rng = np.random.default_rng(seed)
    w, h = size
    colour = _colour(face)
    scale = min(0.8 * h / colour.shape[0], 0.9 * w / colour.shape[1])
    big = cv2.resize(colour, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    frame = np.full((h, w, 3), 110, np.uint8)
    y0, x0 = (h - big.shape[0]) // 2, (w - big.shape[1]) // 2
    frame[y0:y0 + big.shape[0], x0:x0 + big.shape[1]] = big
    return _camera(frame, rng)
