"""Cameras: latest-frame semantics, unplug/replug, video files, show-on-demand, frames for Qt.

Everything runs real OpenCV: the "device" behind OpenCVCamera is a real cv2.VideoCapture over an
MJPEG file written with cv2.VideoWriter. Waits are on the cameras' conditions with timeouts.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from drivers.camera import (
    CameraSettings,
    OpenCVCamera,
    SimulatedCamera,
    downscale,
    fit_size,
    preview_rgb888,
    to_rgb888,
)
from drivers.health import HealthState
from drivers.interfaces import Driver, FrameSource

W, H = 32, 24


def numbered(n: int) -> list[np.ndarray]:
    """Frames whose every pixel holds their index: content identifies the frame."""
    return [np.full((H, W, 3), i, np.uint8) for i in range(n)]


def write_video(path: Path, values: list[int], fps: float = 30.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    for v in values:
        writer.write(np.full((H, W, 3), v, np.uint8))
    writer.release()
    return path


@pytest.fixture
def closing():
    cams: list[FrameSource] = []
    yield cams.append
    for cam in cams:
        cam.close()


def test_sim_camera_is_a_frame_source():
    cam = SimulatedCamera("camera.t", frames=numbered(2))
    source: FrameSource = cam  # structurally a FrameSource (checked by mypy)
    assert isinstance(source, Driver)
    assert cam.latest() is None
    assert cam.health.snapshot().state is HealthState.UNKNOWN


def test_slow_consumer_gets_newest_frame_never_a_stale_one(closing):
    n = 40
    cam = SimulatedCamera("camera.t", frames=numbered(n), fps=200)
    closing(cam)
    cam.start()
    first = cam.wait_for_frame(0, timeout=5)
    assert first is not None
    last = first
    jumps = []
    for _ in range(5):
        # The consumer is busy while the producer publishes at least three more frames...
        assert cam.wait_for_count(last.seq + 3, timeout=5)
        newest_when_asking = cam.frame_count
        # ...and then asks for "something newer than what I had": it gets the newest, not last.seq+1.
        frame = cam.wait_for_frame(last.seq, timeout=5)
        assert frame is not None
        assert frame.seq >= newest_when_asking >= last.seq + 3
        # frame and counter are published together: the content matches the sequence number
        assert int(frame.image[0, 0, 0]) == (frame.seq - 1) % n
        assert frame.timestamp >= last.timestamp
        assert not frame.image.flags.writeable  # shared between consumers: read-only
        jumps.append(frame.seq - last.seq)
        last = frame
    assert min(jumps) >= 3
    latest = cam.latest_frame()
    assert latest is not None and latest.seq >= last.seq
    img = cam.latest()
    assert img is not None and img.shape == (H, W, 3)


def test_wait_for_frame_times_out_and_close_wakes_waiters(closing):
    cam = SimulatedCamera("camera.t", frames=numbered(1), fps=50)
    closing(cam)
    t0 = time.monotonic()
    assert cam.wait_for_frame(0, timeout=0.1) is None  # not started: nothing comes
    assert time.monotonic() - t0 < 2

    cam.start()
    assert cam.wait_for_frame(0, timeout=5) is not None
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(cam.wait_for_frame(10**9, timeout=30)))
    waiter.start()
    t0 = time.monotonic()
    cam.close()
    waiter.join(5)
    assert not waiter.is_alive() and got == [None]
    assert time.monotonic() - t0 < 3
    assert not cam.running


def test_sim_unplug_and_replug(closing):
    cam = SimulatedCamera("camera.t", width=W, height=H, fps=100)
    closing(cam)
    cam.start()
    assert cam.wait_for_frame(0, timeout=5) is not None
    assert cam.wait_for_health("ok", timeout=5)

    cam.unplug()
    snap = cam.health.snapshot()
    assert snap.state is HealthState.FAILED and snap.last_error == "camera_unplugged"
    assert cam.latest() is None  # no stale picture of a camera that is gone
    seq = cam.frame_count
    assert cam.wait_for_frame(seq, timeout=0.2) is None
    assert cam.selftest()["ok"] is False

    cam.replug()
    frame = cam.wait_for_frame(seq, timeout=5)
    assert frame is not None and frame.seq > seq
    assert cam.wait_for_health("ok", timeout=5)
    assert cam.health.snapshot().last_success is not None


def test_show_qr_on_demand_then_resume(closing):
    qr = segno.make("https://zwfw.example.gov.cn/x?id=42", error="m")
    out = qr.matrix  # rows of 0/1
    modules = np.array([list(r) for r in out], np.uint8)
    gray = np.where(modules == 1, 0, 255).astype(np.uint8)
    gray = np.pad(gray, 4, constant_values=255)
    qr_img = cv2.cvtColor(cv2.resize(gray, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST),
                          cv2.COLOR_GRAY2BGR)

    cam = SimulatedCamera("camera.t", width=320, height=240, fps=60)
    closing(cam)
    cam.start()
    first = cam.wait_for_frame(0, timeout=5)
    assert first is not None and first.image.shape == (240, 320, 3)

    cam.show(qr_img)
    frame = first
    deadline = time.monotonic() + 5
    while True:
        nxt = cam.wait_for_frame(frame.seq, timeout=max(0.0, deadline - time.monotonic()))
        assert nxt is not None, "the shown image never appeared"
        frame = nxt
        if frame.image.shape == qr_img.shape:
            break
    assert np.array_equal(frame.image, qr_img)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(frame.image)
    assert text == "https://zwfw.example.gov.cn/x?id=42"
    # it stays until told otherwise
    again = cam.wait_for_frame(frame.seq, timeout=5)
    assert again is not None and np.array_equal(again.image, qr_img)

    cam.resume()
    deadline = time.monotonic() + 5
    while frame.image.shape == qr_img.shape:
        nxt = cam.wait_for_frame(frame.seq, timeout=max(0.0, deadline - time.monotonic()))
        assert nxt is not None, "never went back to the base source"
        frame = nxt
    assert frame.image.shape == (240, 320, 3)


def test_show_sequence_plays_once_then_returns(closing):
    cam = SimulatedCamera("camera.t", frames=numbered(1), fps=100)  # base: all-zero frames
    closing(cam)
    cam.start()
    f = cam.wait_for_frame(0, timeout=5)
    assert f is not None
    cam.show_sequence([np.full((H, W, 3), v, np.uint8) for v in (10, 20, 30)])
    seen: list[int] = []
    deadline = time.monotonic() + 5
    while not (seen and seen[-1] == 0 and 30 in seen):
        nxt = cam.wait_for_frame(f.seq, timeout=max(0.0, deadline - time.monotonic()))
        assert nxt is not None
        f = nxt
        seen.append(int(f.image[0, 0, 0]))
    shown = [v for v in seen if v]
    assert shown == sorted(shown) and set(shown) <= {10, 20, 30}


def test_sim_plays_a_video_file_in_a_loop(tmp_path, closing):
    values = [0, 60, 120, 180, 240]
    path = write_video(tmp_path / "clip.avi", values)
    cam = SimulatedCamera("camera.t", video=path, fps=200)
    closing(cam)
    cam.start()
    assert cam.wait_for_count(len(values) * 2 + 1, timeout=10)  # more frames than the file: it loops
    frame = cam.wait_for_frame(0, timeout=5)
    assert frame is not None and frame.image.shape == (H, W, 3)
    mean = float(frame.image.mean())
    assert min(abs(mean - v) for v in values) < 8  # MJPEG is lossy
    report = cam.selftest()
    assert report["ok"] and report["source"] == "video" and report["running"]


def test_sim_rejects_missing_inputs(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        SimulatedCamera(video=tmp_path / "nope.avi")
    with pytest.raises(ValueError, match="cannot read"):
        SimulatedCamera(frames=[tmp_path / "nope.png"])


def test_sim_selftest_starts_and_stops_when_idle():
    cam = SimulatedCamera("camera.t", width=160, height=120, fps=30)
    report = cam.selftest(timeout=5)
    assert report["ok"] is True
    assert (report["width"], report["height"]) == (160, 120)
    assert report["running"] is False and not cam.running


class Device:
    """A camera that can be unplugged: a real cv2.VideoCapture over an MJPEG file while plugged in,
    a real VideoCapture on a path that does not exist (never opens) while unplugged. The file's end is
    a read failure, like a camera pulled mid-stream."""

    def __init__(self, video: Path, missing: Path) -> None:
        self.video, self.missing = video, missing
        self.plugged = threading.Event()
        self.plugged.set()
        self.opens = 0
        self.cond = threading.Condition()

    def __call__(self) -> cv2.VideoCapture:
        with self.cond:
            self.opens += 1
            self.cond.notify_all()
        return cv2.VideoCapture(str(self.video if self.plugged.is_set() else self.missing))

    def wait_opens(self, n: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.opens >= n, timeout)


def test_opencv_camera_survives_unplug_and_replug(tmp_path, closing):
    device = Device(write_video(tmp_path / "dev.avi", list(range(0, 250, 5))), tmp_path / "gone.avi")
    cam = OpenCVCamera("camera.doc", device="/dev/video-test", capture_factory=device,
                       settings=CameraSettings(width=W, height=H, fps=30, autofocus=False, focus=10,
                                               auto_exposure=False, exposure=100),
                       backoff_initial_s=0.02, backoff_max_s=0.2)
    closing(cam)
    cam.start()
    assert cam.wait_for_frame(0, timeout=5) is not None

    device.plugged.clear()  # unplug: the stream ends and reopening fails
    assert cam.wait_for_health("failed", timeout=5)
    opens = device.opens
    assert device.wait_opens(opens + 2, timeout=5)  # it keeps retrying, with backoff
    assert cam.health.snapshot().last_error in ("camera_open_failed", "camera_read_failed")
    assert cam.latest() is None
    seq = cam.frame_count

    device.plugged.set()  # replug
    frame = cam.wait_for_frame(seq, timeout=5)
    assert frame is not None and frame.seq > seq and frame.image.shape == (H, W, 3)
    assert cam.reconnects >= 1
    report = cam.selftest(timeout=5)
    assert report["device"] == "/dev/video-test"
    assert report["requested"]["autofocus"] is False
    assert report["actual"]["width"] == W


def test_opencv_camera_close_is_prompt_during_backoff(tmp_path):
    device = Device(tmp_path / "x.avi", tmp_path / "gone.avi")
    device.plugged.clear()
    cam = OpenCVCamera("camera.doc", capture_factory=device, backoff_initial_s=5, backoff_max_s=30)
    cam.start()
    assert cam.wait_for_health("failed", timeout=5)
    t0 = time.monotonic()
    cam.close()
    assert time.monotonic() - t0 < 1.0
    assert not cam.running


def test_opencv_camera_on_a_missing_v4l2_device_reports_failed():
    cam = OpenCVCamera("camera.doc", device="/dev/video-does-not-exist", backoff_initial_s=0.05)
    report = cam.selftest(timeout=0.5)
    assert report["ok"] is False and report["error"] == "camera_open_failed"
    assert cam.health.snapshot().state is HealthState.FAILED
    assert not cam.running


def test_factory_that_raises_is_an_open_failure():
    def broken() -> cv2.VideoCapture:
        raise OSError("device vanished")

    cam = OpenCVCamera("camera.doc", capture_factory=broken, backoff_initial_s=0.05)
    cam.start()
    try:
        assert cam.wait_for_health("failed", timeout=5)
        assert cam.health.snapshot().last_error == "camera_open_failed"
    finally:
        cam.close()


def test_rgb888_conversion_for_qimage():
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    rgb = to_rgb888(bgr)
    assert (rgb.width, rgb.height, rgb.bytes_per_line) == (6, 4, 18)
    assert rgb.data.flags.c_contiguous and not np.shares_memory(rgb.data, bgr)
    assert tuple(rgb.data[0, 0]) == (0, 0, 255)
    assert len(rgb.tobytes()) == 6 * 4 * 3
    gray = to_rgb888(np.full((2, 3), 7, np.uint8))
    assert gray.data.shape == (2, 3, 3) and int(gray.data.max()) == 7
    with pytest.raises(ValueError):
        to_rgb888(np.zeros((2, 2), np.float32))


def test_preview_downscales_to_fit_and_keeps_aspect():
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[..., 2] = 200  # red
    small = preview_rgb888(frame, 640, 640)
    assert (small.width, small.height) == (640, 360)
    assert small.bytes_per_line == 640 * 3
    assert tuple(small.data[10, 10]) == (200, 0, 0)
    assert fit_size(100, 50, 400, 400) == (100, 50)  # never enlarges
    assert downscale(frame, 1920, 1080) is frame
    assert downscale(frame, 960, 960).shape == (540, 960, 3)
