"""A simulated camera for the demo, `kiosk run --sim` and UI tests.

It plays an image sequence (files or numpy frames), a video file, or a generated test pattern at a
given frame rate in its own thread, with the same latest-frame semantics as the real camera. It can be
"unplugged" and "replugged" (health failed -> ok), and told to show a given image on demand (a QR code,
an ID card photo) with :meth:`SimulatedCamera.show` / :meth:`SimulatedCamera.show_sequence`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivers.camera.frames import CameraBase

ImageLike = np.ndarray | str | os.PathLike[str]


def load_image(image: ImageLike) -> np.ndarray:
    """A private, read-only BGR/gray copy of ``image`` (array or path). Raises ValueError if unreadable."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"expected a uint8 image, got {image.dtype} {image.shape}")
        arr = image.copy()
    else:
        arr_or_none = cv2.imread(os.fspath(image), cv2.IMREAD_COLOR)
        if arr_or_none is None:
            raise ValueError(f"cannot read image file {Path(image).name!r}")
        arr = arr_or_none
    arr.flags.writeable = False
    return arr


class SimulatedCamera(CameraBase):
    """A :class:`~drivers.interfaces.FrameSource` that needs no hardware.

    Sources, in order of precedence: ``video`` (a file OpenCV can read; MJPEG .avi written with
    ``cv2.VideoWriter`` works everywhere), ``frames`` (paths or numpy arrays, played in a loop), else a
    generated moving test pattern of ``width`` x ``height``.
    """

    kind = "sim"

    def __init__(self, name: str = "camera.sim", *, frames: Sequence[ImageLike] | None = None,
                 video: str | os.PathLike[str] | None = None, fps: float | None = None,
                 width: int = 640, height: int = 480, loop: bool = True) -> None:
        super().__init__(name)
        if fps is not None and fps <= 0:
            raise ValueError("fps must be positive")
        self._frames = [load_image(f) for f in frames] if frames else []
        self._video = os.fspath(video) if video is not None else None
        if self._video is not None and not os.path.exists(self._video):
            raise ValueError(f"video file not found: {Path(self._video).name!r}")
        self._fps = fps
        self._width, self._height = int(width), int(height)
        self._loop = loop
        self._ctl = threading.Condition()
        self._unplugged = False
        self._override: list[np.ndarray] = []
        self._override_loop = False
        self._override_pos = 0
        self._base_pos = 0
        self._last_video_frame: np.ndarray | None = None

    # -- simulation controls (thread-safe) -------------------------------------------------------
    def unplug(self) -> None:
        """The cable is pulled: no more frames, health failed right away."""
        with self._ctl:
            self._unplugged = True
            self._set_failed("camera_unplugged")
            self._ctl.notify_all()

    def replug(self) -> None:
        """Cable back in: health returns to ok when the next frame is published."""
        with self._ctl:
            self._unplugged = False
            self._ctl.notify_all()

    @property
    def unplugged(self) -> bool:
        with self._ctl:
            return self._unplugged

    def show(self, image: ImageLike) -> None:
        """Show ``image`` (array or file) from the next frame on, until :meth:`resume` or another show."""
        self.show_sequence([image], loop=True)

    def show_sequence(self, images: Sequence[ImageLike], loop: bool = False) -> None:
        """Play ``images`` one per frame; then return to the base source unless ``loop``."""
        loaded = [load_image(i) for i in images]
        if not loaded:
            raise ValueError("empty sequence")
        with self._ctl:
            self._override = loaded
            self._override_loop = loop
            self._override_pos = 0

    def resume(self) -> None:
        """Back to the configured source (video, frames or test pattern)."""
        with self._ctl:
            self._override = []

    # -- FrameSource -----------------------------------------------------------------------------
    def selftest(self, timeout: float = 2.0) -> dict[str, Any]:
        source = "video" if self._video else ("frames" if self._frames else "pattern")
        if self.unplugged:
            return {"ok": False, "kind": self.kind, "source": source, "error": "camera_unplugged"}
        details = self._selftest_frames(timeout)
        details["source"] = source
        return details

    # -- thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        video: cv2.VideoCapture | None = None
        fps = self._fps
        if self._video is not None:
            video = cv2.VideoCapture(self._video)
            if fps is None:
                file_fps = float(video.get(cv2.CAP_PROP_FPS) or 0.0)
                fps = file_fps if 0 < file_fps <= 240 else 15.0
        period = 1.0 / (fps or 15.0)
        next_due = time.monotonic()
        try:
            while not self._stop.is_set():
                with self._ctl:
                    while self._unplugged and not self._stop.is_set():
                        self._ctl.wait(0.5)
                    image = self._next_override()
                if self._stop.is_set():
                    break
                if image is None:
                    image, video = self._next_base(video)
                if image is None:
                    self._set_failed("sim_source_unreadable")
                else:
                    with self._ctl:
                        if not self._unplugged:  # an unplug may have raced with producing this frame
                            self._slot.publish(image)
                            self._set_ok()
                next_due += period
                now = time.monotonic()
                if next_due < now:  # fell behind (loaded machine): do not burst to catch up
                    next_due = now
                self._stop.wait(max(0.0, next_due - now))
        finally:
            if video is not None:
                video.release()

    def _next_override(self) -> np.ndarray | None:
        if not self._override:
            return None
        if self._override_pos >= len(self._override):
            if self._override_loop:
                self._override_pos = 0
            else:
                self._override = []
                return None
        image = self._override[self._override_pos]
        self._override_pos += 1
        return image

    def _next_base(self, video: cv2.VideoCapture | None) -> tuple[np.ndarray | None, cv2.VideoCapture | None]:
        if video is not None:
            ok, image = video.read()
            if not ok and self._loop and self._video is not None:
                video.release()
                video = cv2.VideoCapture(self._video)
                ok, image = video.read()
            if ok and image is not None:
                self._last_video_frame = image
                return image, video
            return self._last_video_frame, video
        if self._frames:
            if self._base_pos >= len(self._frames):
                self._base_pos = 0 if self._loop else len(self._frames) - 1
            image = self._frames[self._base_pos]
            self._base_pos += 1
            return image, None
        return self._pattern(), None

    def _pattern(self) -> np.ndarray:
        """A grey test card with a moving bar and the frame number (cheap to draw at 15 fps)."""
        w, h = self._width, self._height
        n = self._slot.seq + 1
        image = np.full((h, w, 3), 96, np.uint8)
        x = (n * 8) % max(1, w)
        cv2.rectangle(image, (x, 0), (min(w - 1, x + w // 16), h - 1), (40, 160, 220), -1)
        cv2.putText(image, f"SIM {self.name} #{n}", (16, max(24, h // 10)), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.5, w / 960), (255, 255, 255), 2, cv2.LINE_AA)
        return image
