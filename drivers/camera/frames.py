"""Frame plumbing shared by the cameras, and helpers to hand frames to the UI.

Two things live here:

* :class:`LatestFrameSlot`, the single-slot mailbox every camera publishes into. It keeps only the
  newest frame (never a queue of stale ones), numbers frames with a monotonically increasing counter
  and lets consumers wait, with a timeout, for a frame *newer* than the one they already have.
* :func:`to_rgb888` / :func:`preview_rgb888`, which turn an OpenCV BGR frame into tightly packed
  RGB888 pixels with at most one copy, ready for ``QImage``.

Drivers never import Qt. Build the ``QImage`` in the UI layer, for example::

    rgb = preview_rgb888(frame, max_width=960, max_height=540)
    image = QImage(rgb.data, rgb.width, rgb.height, rgb.bytes_per_line, QImage.Format.Format_RGB888)
    # QImage does not copy the buffer: keep ``rgb`` alive while ``image`` is used, or call
    # ``image.copy()`` if the QImage must outlive it (e.g. when it is handed to another thread).

Frames published by the cameras are read-only numpy arrays shared by every consumer: copy before
drawing on them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from drivers.health import Health, HealthState


@dataclass(frozen=True)
class Frame:
    """One published frame: its sequence number (1, 2, ...), a ``time.monotonic()`` stamp, the pixels."""

    seq: int
    timestamp: float
    image: np.ndarray


class LatestFrameSlot:
    """A single slot overwritten by the producer; consumers wait on a Condition for newer frames.

    The same Condition is notified when the owning camera's health changes, so tests and service
    screens can wait for a state without polling.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._seq = 0
        self._closed = False

    @property
    def seq(self) -> int:
        """Sequence number of the newest frame ever published (0 before the first)."""
        with self._cond:
            return self._seq

    def publish(self, image: np.ndarray) -> Frame:
        """Replace the slot's frame with ``image`` (made read-only) and wake every waiter."""
        image.flags.writeable = False
        with self._cond:
            self._seq += 1
            frame = Frame(self._seq, time.monotonic(), image)
            self._frame = frame
            self._cond.notify_all()
        return frame

    def clear(self) -> None:
        """Drop the held frame (the device is gone: do not serve its last picture as if it were live)."""
        with self._cond:
            self._frame = None
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def close(self) -> None:
        """Wake all waiters for good; ``wait_newer`` returns None immediately afterwards."""
        with self._cond:
            self._closed = True
            self._frame = None
            self._cond.notify_all()

    def latest(self) -> Frame | None:
        with self._cond:
            return self._frame

    def wait_newer(self, after_seq: int, timeout: float) -> Frame | None:
        """Return the newest frame whose ``seq > after_seq``, waiting up to ``timeout`` seconds.

        If such a frame is already in the slot it is returned at once (the newest, not the one right
        after ``after_seq``: skipped frames are gone, which is the point). None on timeout or close.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while True:
                frame = self._frame
                if frame is not None and frame.seq > after_seq:
                    return frame
                if self._closed:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate()`` is true (re-checked on every notification); False on timeout."""
        with self._cond:
            return bool(self._cond.wait_for(predicate, timeout))


class CameraBase:
    """Common state of the threaded cameras: name, health, the latest-frame slot, start/close."""

    kind = "camera"

    def __init__(self, name: str) -> None:
        self.name = name
        self.health = Health(name)
        self._slot = LatestFrameSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- FrameSource -------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            old = self._thread
            if old is not None and old.is_alive():
                if not self._stop.is_set():
                    return  # already running
                old.join(3.0)  # a close() whose thread was stuck in a blocking read
                if old.is_alive():
                    raise RuntimeError(f"camera {self.name}: previous capture thread has not stopped")
            self._stop.clear()
            self._slot.reopen()
            self._thread = threading.Thread(target=self._run_guarded, name=f"cam-{self.name}", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 3.0) -> None:
        """Stop the capture thread promptly; safe to call twice. The camera may be started again."""
        with self._lock:
            thread = self._thread
        self._stop.set()
        self._slot.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the capture thread runs and has not been asked to stop."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    def latest(self) -> np.ndarray | None:
        frame = self._slot.latest()
        return None if frame is None else frame.image

    # -- richer API used by the UI and the code scanner ---------------------------------------
    def latest_frame(self) -> Frame | None:
        return self._slot.latest()

    @property
    def frame_count(self) -> int:
        """How many frames were published since construction (the newest frame's ``seq``)."""
        return self._slot.seq

    def wait_for_frame(self, after_seq: int = 0, timeout: float = 1.0) -> Frame | None:
        """Newest frame with ``seq > after_seq``; waits up to ``timeout`` s; None on timeout/close."""
        return self._slot.wait_newer(after_seq, timeout)

    def wait_for_count(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` frames have been published in total; False on timeout."""
        return self._slot.wait_for(lambda: self._slot.seq >= count, timeout)

    def wait_for_health(self, state: HealthState | str, timeout: float) -> bool:
        """Wait until the health state equals ``state``; False on timeout."""
        wanted = HealthState(state)
        return self._slot.wait_for(lambda: self.health.snapshot().state is wanted, timeout)

    # -- for subclasses --------------------------------------------------------------------------
    def _set_ok(self) -> None:
        if self.health.snapshot().state is not HealthState.OK:
            self.health.ok()
            self._slot.notify()
        else:
            self.health.ok()

    def _set_failed(self, error: str) -> None:
        self.health.failed(error)
        self._slot.clear()

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a bug must show in health, not kill the thread silently
            self._set_failed(f"camera_thread_crashed:{type(exc).__name__}")
            raise

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _selftest_frames(self, timeout: float) -> dict[str, Any]:
        """Start if needed, wait for two fresh frames, report what came; stop again if we started."""
        started_here = not self.running
        if started_here:
            self.start()
        try:
            t0 = time.monotonic()
            before = self.frame_count
            # a frame, or a failure (device missing): do not sit out the whole timeout on a dead device
            self._slot.wait_for(lambda: self._slot.seq > before
                                or self.health.snapshot().state is HealthState.FAILED, timeout)
            first = self.wait_for_frame(before, 0)
            second = None
            if first is not None:
                second = self.wait_for_frame(first.seq, max(0.0, timeout - (time.monotonic() - t0)))
            snap = self.health.snapshot()
            details: dict[str, Any] = {"kind": self.kind, "running": not started_here}
            if first is None:
                details.update(ok=False, error=snap.last_error or "camera_no_frames")
                return details
            h, w = first.image.shape[:2]
            details.update(ok=True, width=int(w), height=int(h),
                           channels=1 if first.image.ndim == 2 else int(first.image.shape[2]),
                           first_frame_ms=round((time.monotonic() - t0) * 1000, 1))
            if second is not None and second.timestamp > first.timestamp:
                details["fps_measured"] = round((second.seq - first.seq) /
                                                (second.timestamp - first.timestamp), 1)
            return details
        finally:
            if started_here:
                self.close()


# ---------------------------------------------------------------------------------------------
# Handing frames to Qt
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RgbImage:
    """Tightly packed RGB888 pixels. ``data`` supports the buffer protocol (QImage accepts it)."""

    data: np.ndarray  # shape (height, width, 3), uint8, C-contiguous
    width: int
    height: int
    bytes_per_line: int

    def tobytes(self) -> bytes:
        return self.data.tobytes()


def fit_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """Largest size with the same aspect ratio that fits in the box; never enlarges."""
    if width <= 0 or height <= 0:
        raise ValueError("empty frame")
    scale = min(1.0, max_width / width, max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_rgb888(frame: np.ndarray) -> RgbImage:
    """BGR (or grayscale, or BGRA) uint8 frame -> packed RGB888, with exactly one copy."""
    if frame.dtype != np.uint8:
        raise ValueError(f"expected uint8 frame, got {frame.dtype}")
    if frame.ndim == 2:
        code = cv2.COLOR_GRAY2RGB
    elif frame.ndim == 3 and frame.shape[2] == 3:
        code = cv2.COLOR_BGR2RGB
    elif frame.ndim == 3 and frame.shape[2] == 4:
        code = cv2.COLOR_BGRA2RGB
    else:
        raise ValueError(f"unsupported frame shape {frame.shape}")
    rgb = cv2.cvtColor(frame, code)  # the one copy; output is C-contiguous
    return _wrap(rgb)


def preview_rgb888(frame: np.ndarray, max_width: int, max_height: int) -> RgbImage:
    """Downscale to fit ``max_width`` x ``max_height`` (INTER_AREA) and convert to RGB888.

    The resize produces the only new buffer; the colour conversion then runs in place on it.
    """
    h, w = frame.shape[:2]
    size = fit_size(w, h, max_width, max_height)
    if size == (w, h):
        return to_rgb888(frame)
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    if small.ndim == 3 and small.shape[2] == 3:
        cv2.cvtColor(small, cv2.COLOR_BGR2RGB, dst=small)  # in place: no second copy
        return _wrap(small)
    return to_rgb888(small)  # grayscale/BGRA change channel count: a conversion copy is unavoidable


def downscale(frame: np.ndarray, max_width: int, max_height: int) -> np.ndarray:
    """Downscale a BGR/gray frame to fit the box (INTER_AREA); returns ``frame`` itself if it fits."""
    h, w = frame.shape[:2]
    size = fit_size(w, h, max_width, max_height)
    if size == (w, h):
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _wrap(rgb: np.ndarray) -> RgbImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return RgbImage(rgb, int(w), int(h), int(rgb.strides[0]))
