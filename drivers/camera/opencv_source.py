"""A V4L2 camera read with OpenCV in its own thread, surviving unplug and replug.

The capture thread reads as fast as the device delivers and overwrites a single slot (see
:class:`~drivers.camera.frames.LatestFrameSlot`), so consumers always get the newest frame and never a
queue of stale ones. When reads fail ``max_read_failures`` times in a row the camera reports
``failed`` ("camera_read_failed"), releases the device and retries opening it with exponential backoff
(``camera_open_failed`` while it cannot). As soon as frames flow again health is ``ok``.

Use a stable device path for replug: ``/dev/v4l/by-id/usb-...-video-index0`` keeps its name when the
kernel hands out a different ``/dev/videoN`` after a replug.

Opening goes through an injectable ``capture_factory`` (anything with the ``cv2.VideoCapture`` methods
``isOpened/read/set/get/release``); the default opens the device with the V4L2 backend. Tests pass a
factory returning real ``cv2.VideoCapture`` objects over video files.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from drivers.camera.frames import CameraBase

log = logging.getLogger(__name__)


class CaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` the camera uses."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def set(self, prop_id: int, value: float) -> bool: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


CaptureFactory = Callable[[], CaptureLike]


@dataclass(frozen=True)
class CameraSettings:
    """What to ask the device for; None leaves the driver's default. Devices may refuse any of it.

    ``auto_exposure``: True = aperture-priority auto (V4L2 value 3), False = manual (V4L2 value 1),
    then ``exposure`` is in the device's units (UVC: 100 µs steps). ``focus`` is in device units
    (UVC: 0..255 typically) and only applies with ``autofocus=False``.
    """

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    fourcc: str | None = "MJPG"  # USB2 cameras need MJPEG for 1080p at 30 fps
    autofocus: bool | None = None
    focus: float | None = None
    auto_exposure: bool | None = None
    exposure: float | None = None
    buffer_size: int | None = 1  # fewer driver buffers, less latency
    read_timeout_ms: int | None = 2000  # V4L2 select() timeout, so an unplug is noticed quickly

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> CameraSettings:
        known = {k: cfg[k] for k in cls.__dataclass_fields__ if k in cfg}
        return cls(**known)


def open_v4l2(device: str | int) -> cv2.VideoCapture:
    """Open a V4L2 device by path (``/dev/video0``, ``/dev/v4l/by-id/...``) or index."""
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    return cv2.VideoCapture(device, cv2.CAP_V4L2)


def apply_settings(cap: CaptureLike, settings: CameraSettings) -> dict[str, Any]:
    """Apply ``settings`` in the order V4L2 wants (format, size, rate, controls); return what stuck."""
    def put(prop: int, value: float) -> None:
        with contextlib.suppress(cv2.error):  # some backends raise on unsupported properties
            cap.set(prop, float(value))

    if settings.read_timeout_ms is not None:
        put(cv2.CAP_PROP_READ_TIMEOUT_MSEC, settings.read_timeout_ms)
    if settings.fourcc:
        put(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*settings.fourcc[:4].ljust(4)))
    if settings.width:
        put(cv2.CAP_PROP_FRAME_WIDTH, settings.width)
    if settings.height:
        put(cv2.CAP_PROP_FRAME_HEIGHT, settings.height)
    if settings.fps:
        put(cv2.CAP_PROP_FPS, settings.fps)
    if settings.buffer_size:
        put(cv2.CAP_PROP_BUFFERSIZE, settings.buffer_size)
    if settings.autofocus is not None:
        put(cv2.CAP_PROP_AUTOFOCUS, 1 if settings.autofocus else 0)
    if settings.focus is not None and not settings.autofocus:
        put(cv2.CAP_PROP_FOCUS, settings.focus)
    if settings.auto_exposure is not None:
        put(cv2.CAP_PROP_AUTO_EXPOSURE, 3 if settings.auto_exposure else 1)
    if settings.exposure is not None and not settings.auto_exposure:
        put(cv2.CAP_PROP_EXPOSURE, settings.exposure)

    def got(prop: int) -> float | None:
        try:
            value = float(cap.get(prop))
        except cv2.error:
            return None
        return value if value > 0 else None

    fourcc_code = int(got(cv2.CAP_PROP_FOURCC) or 0)
    fourcc = "".join(chr((fourcc_code >> (8 * i)) & 0xFF) for i in range(4)) if fourcc_code else None
    return {"width": got(cv2.CAP_PROP_FRAME_WIDTH), "height": got(cv2.CAP_PROP_FRAME_HEIGHT),
            "fps": got(cv2.CAP_PROP_FPS), "fourcc": fourcc}


class OpenCVCamera(CameraBase):
    """A :class:`~drivers.interfaces.FrameSource` over a V4L2 device (or any ``capture_factory``)."""

    kind = "opencv"

    def __init__(self, name: str = "camera", *, device: str | int = "/dev/video0",
                 settings: CameraSettings | None = None, capture_factory: CaptureFactory | None = None,
                 max_read_failures: int = 3, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 8.0) -> None:
        super().__init__(name)
        self.device = device
        self.settings = settings or CameraSettings()
        self._factory: CaptureFactory = capture_factory or functools.partial(open_v4l2, device)
        self.max_read_failures = max(1, max_read_failures)
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = max(backoff_initial_s, backoff_max_s)
        self.open_attempts = 0
        self.reconnects = 0
        self._actual: dict[str, Any] = {}

    def selftest(self, timeout: float = 3.0) -> dict[str, Any]:
        details = self._selftest_frames(timeout)
        details["device"] = os.fspath(self.device) if not isinstance(self.device, int) else self.device
        details["requested"] = {k: v for k, v in asdict(self.settings).items() if v is not None}
        details["actual"] = dict(self._actual)
        details["open_attempts"] = self.open_attempts
        details["reconnects"] = self.reconnects
        return details

    # -- thread ----------------------------------------------------------------------------------
    def _open(self) -> CaptureLike | None:
        self.open_attempts += 1
        try:
            cap = self._factory()
        except Exception as exc:  # a broken device can make the backend raise
            log.warning("camera %s: open raised %s", self.name, type(exc).__name__)
            return None
        if not cap.isOpened():
            cap.release()
            return None
        try:
            self._actual = apply_settings(cap, self.settings)
        except Exception as exc:
            log.warning("camera %s: settings failed: %s", self.name, type(exc).__name__)
        return cap

    def _read(self, cap: CaptureLike) -> np.ndarray | None:
        try:
            ok, image = cap.read()
        except cv2.error:
            return None
        if not ok or image is None or not getattr(image, "size", 0):
            return None
        return image

    def _run(self) -> None:
        backoff = self.backoff_initial_s
        ever_opened = False
        while not self._stop.is_set():
            cap = self._open()
            if cap is None:
                self._set_failed("camera_open_failed")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            if ever_opened:
                self.reconnects += 1
            ever_opened = True
            failures = 0
            try:
                while not self._stop.is_set():
                    image = self._read(cap)
                    if image is not None:
                        self._slot.publish(image)
                        self._set_ok()
                        failures = 0
                        backoff = self.backoff_initial_s
                        continue
                    failures += 1
                    if failures >= self.max_read_failures:
                        self._set_failed("camera_read_failed")
                        log.warning("camera %s: reads failing, reopening", self.name)
                        break
                    self._stop.wait(0.01)
            finally:
                cap.release()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)
