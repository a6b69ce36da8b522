"""Cameras with latest-frame semantics: a V4L2 camera (OpenCV) and a simulator.

Both run their own capture thread and publish into a single slot; consumers call ``latest()`` or
``wait_for_frame(after_seq, timeout)`` and never see a queue of stale frames. No Qt here: see
:mod:`drivers.camera.frames` for handing frames to a ``QImage`` in the UI layer.
"""

from drivers.camera.frames import (
    CameraBase,
    Frame,
    LatestFrameSlot,
    RgbImage,
    downscale,
    fit_size,
    preview_rgb888,
    to_rgb888,
)
from drivers.camera.opencv_source import CameraSettings, OpenCVCamera, apply_settings, open_v4l2
from drivers.camera.sim_source import SimulatedCamera, load_image

__all__ = [
    "CameraBase",
    "CameraSettings",
    "Frame",
    "LatestFrameSlot",
    "OpenCVCamera",
    "RgbImage",
    "SimulatedCamera",
    "apply_settings",
    "downscale",
    "fit_size",
    "load_image",
    "open_v4l2",
    "preview_rgb888",
    "to_rgb888",
]
