"""Live scanning from a simulated camera through the real decoders, off the UI thread; previews reach
QML through the image provider; an unplugged camera recovers."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest
import segno
from PySide6.QtCore import QSize

from drivers.camera.sim_source import SimulatedCamera
from drivers.codes.pipeline import LIVE, DecodePipeline
from drivers.health import HealthState
from drivers.interfaces import DecodedCode
from kiosk.automation import process_events_until
from kiosk.camera.preview import CameraImageProvider, PreviewStore
from kiosk.camera.scanner import ScannerService


def qr_frame(text: str, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    buf = io.BytesIO()
    segno.make(text, encoding="utf-8", error="m").save(buf, kind="png", scale=8, border=4)
    code = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    frame = np.full((size[1], size[0], 3), 235, np.uint8)
    y, x = (size[1] - code.shape[0]) // 2, (size[0] - code.shape[1]) // 2
    frame[y:y + code.shape[0], x:x + code.shape[1]] = code
    return frame


@pytest.fixture
def camera() -> Iterator[SimulatedCamera]:
    cam = SimulatedCamera("camera.scanner", fps=15, width=1280, height=720)
    cam.start()
    yield cam
    cam.close()


@pytest.fixture
def scanner(qapp: Any, camera: SimulatedCamera) -> Iterator[ScannerService]:
    svc = ScannerService(camera, "scanner", PreviewStore(), preview_fps=15)
    svc.start()
    yield svc
    svc.stop()


def test_code_in_front_of_the_camera_is_reported_once_off_the_ui_thread(
        scanner: ScannerService, camera: SimulatedCamera) -> None:
    got: list[DecodedCode] = []
    scanner.codeDecoded.connect(got.append)
    scanner.resume()
    camera.show(qr_frame("ezz://licence?type=JZZ&id=A1B2C3&issuer=440300&ts=1795800000"))
    assert process_events_until(lambda: len(got) >= 1, timeout_s=10)
    assert got[0].text == "ezz://licence?type=JZZ&id=A1B2C3&issuer=440300&ts=1795800000"
    n = scanner.frames_decoded
    assert process_events_until(lambda: scanner.frames_decoded >= n + 5, timeout_s=10)
    assert len(got) == 1  # held in front of the camera: debounced, not repeated every frame
    assert threading.main_thread().ident not in scanner.decode_threads


def test_paused_scanner_reports_nothing_but_keeps_the_preview(scanner: ScannerService,
                                                               camera: SimulatedCamera) -> None:
    got: list[DecodedCode] = []
    scanner.codeDecoded.connect(got.append)
    frames: list[int] = []
    scanner.previewUpdated.connect(lambda _role, n: frames.append(n))
    camera.show(qr_frame("KR-20261127-SK01-000001-5"))
    assert process_events_until(lambda: len(frames) >= 3, timeout_s=10)
    assert got == [] and scanner.frames_decoded == 0
    provider = CameraImageProvider(scanner.previews)
    size = QSize()
    image = provider.requestImage(f"scanner?{frames[-1]}", size, QSize())
    assert (image.width(), image.height()) == (960, 540) == (size.width(), size.height())
    centre = image.pixelColor(480, 270)
    assert centre.red() < 128 or image.pixelColor(10, 10).red() > 200  # real pixels, not the blank
    scanner.previews.clear()
    assert provider.requestImage("scanner", QSize(), QSize()).width() == 16  # wiped: nothing of the last frame


def test_unplugged_camera_goes_failed_then_scanning_recovers(scanner: ScannerService,
                                                             camera: SimulatedCamera) -> None:
    got: list[DecodedCode] = []
    scanner.codeDecoded.connect(got.append)
    scanner.resume()
    camera.unplug()
    assert camera.wait_for_health(HealthState.FAILED, timeout=5)
    camera.show(qr_frame("CTID:" + "A" * 40))
    camera.replug()
    assert camera.wait_for_health(HealthState.OK, timeout=5)
    assert process_events_until(lambda: len(got) == 1, timeout_s=10)
    assert got[0].text == "CTID:" + "A" * 40


class _FrameListCamera:
    """A camera that delivers a fixed list of frames once, then nothing (a driver that hiccups)."""

    def __init__(self, images: list[Any]) -> None:
        from drivers.camera.frames import Frame

        self._frames = [Frame(i + 1, 0.0, img) for i, img in enumerate(images)]
        self._closed = threading.Event()

    def wait_for_frame(self, after_seq: int = 0, timeout: float = 1.0) -> Any:
        if after_seq < len(self._frames):
            return self._frames[after_seq]
        self._closed.wait(timeout)
        return None


def test_frames_without_pixels_are_counted_and_skipped_not_fatal(qapp: Any) -> None:
    text = "KR-20261204-UNREADABLE-OK-7"
    camera = _FrameListCamera([None, np.zeros((0, 0, 3), np.uint8), np.array([None], dtype=object),
                               qr_frame(text)])
    svc = ScannerService(camera, "scanner", PreviewStore(), preview_fps=15)
    got: list[DecodedCode] = []
    svc.codeDecoded.connect(got.append)
    svc.resume()
    svc.start()
    try:
        assert process_events_until(lambda: len(got) == 1, timeout_s=10)
        assert got[0].text == text
        assert svc.frames_unreadable == 3 and svc.frames_decoded == 1
    finally:
        svc.stop()


def test_resume_starts_a_scan_with_nothing_tracked(qapp: Any) -> None:

    svc = ScannerService(_FrameListCamera([]), "scanner", PreviewStore(), pipeline=DecodePipeline(LIVE))
    m = np.array(segno.make_qr("x" * 40, error="l", version=5).matrix, np.uint8)
    keep = np.zeros_like(m, bool)
    keep[:8, :8] = keep[:8, -8:] = keep[-8:, :8] = True
    m = np.pad(np.where(keep, m, np.random.default_rng(1).integers(0, 2, m.shape)), 4)  # data destroyed
    frame = np.full((1080, 1920), 200, np.uint8)
    code = np.kron(np.where(m == 1, 0, 255).astype(np.uint8), np.ones((6, 6), np.uint8))
    frame[300:300 + code.shape[0], 800:800 + code.shape[1]] = code
    assert svc.pipeline.decode(frame) == []
    assert svc.pipeline.tracked_regions()  # located, not readable: tracked for the next frames
    svc.resume()
    assert svc.pipeline.tracked_regions() == []


class _HeldPipeline(DecodePipeline):
    """The real live pipeline, held at the start of each decode until the test lets it go: a slow frame
    on a busy machine, made to happen on purpose."""

    def __init__(self) -> None:
        super().__init__(LIVE)
        self.entered = threading.Event()
        self.release = threading.Event()

    def decode(self, image: Any) -> list[DecodedCode]:
        self.entered.set()
        assert self.release.wait(10), "the test never let the decode go"
        return super().decode(image)


def test_a_decode_that_outlives_its_scan_is_never_delivered(qapp: Any, camera: SimulatedCamera) -> None:
    """The identify screen's e-ID code, decoded slowly, must not land on the materials screen that
    started a new scan meanwhile (the flaky freshness test's cause, issue 22)."""
    pipeline = _HeldPipeline()
    svc = ScannerService(camera, "scanner", PreviewStore(), pipeline=pipeline, preview_fps=15)
    got: list[DecodedCode] = []
    svc.codeDecoded.connect(got.append)
    camera.show(qr_frame("ezz://licence?type=idcard&id=11010519491231002X&issuer=110000&ts=1795800000"))
    pipeline.release.set()
    svc.resume()
    svc.start()
    try:
        assert process_events_until(lambda: len(got) == 1, timeout_s=10)  # read on the identify screen
        pipeline.release.clear()
        pipeline.entered.clear()
        assert pipeline.entered.wait(10)  # the next frame with the code is being decoded ...
        camera.resume()  # ... the resident puts the phone away,
        svc.pause()  # the screen changes,
        svc.resume()  # and the next screen starts its own scan
        pipeline.release.set()
        n = svc.frames_decoded
        assert process_events_until(lambda: svc.frames_decoded >= n + 3, timeout_s=10)
        assert len(got) == 1 and svc.codes_dropped_stale == 1
        camera.show(qr_frame("ezz://licence?type=hukou&id=HK20261127&issuer=110000&ts=1795800000"))
        assert process_events_until(lambda: len(got) == 2, timeout_s=10)  # the new scan still reads
        assert "type=hukou" in (got[1].text or "")
    finally:
        pipeline.release.set()
        svc.stop()
