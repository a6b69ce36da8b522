"""Live scanning: a worker thread takes the newest camera frame, decodes it with the production
pipeline, debounces, and hands results to the UI thread through a queued signal. A preview is made
on the same thread at a lower rate. The UI thread never decodes or converts pixels.

The live pipeline keeps state between frames (regions it located but could not read yet, read again
at full resolution in the next frames): ``resume`` starts every scan with that state cleared. A frame
without pixels (a driver hiccup) is counted in ``frames_unreadable`` and skipped.

Every ``resume`` and ``pause`` starts a new scan generation. A decode that began before it (a slow
frame on a busy machine, still running while the screen changed) is dropped when it finishes: a code
shown for one step (the resident's e-ID on the identify screen) never reaches the next one (the
materials screen's 户口簿), however late its decode ends."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from drivers.camera.frames import preview_rgb888
from drivers.codes import Debouncer, DecodePipeline
from drivers.codes.pipeline import UnreadableFrame
from drivers.interfaces import DecodedCode
from kiosk.camera.preview import PreviewStore

log = logging.getLogger("kiosk.camera")


class ScannerService(QObject):
    """Decode codes from one camera. ``codeDecoded`` carries a DecodedCode (payload: personal data,
    never logged). ``previewUpdated(role, frameNo)`` tells QML a new preview is ready."""

    codeDecoded = Signal(object)
    previewUpdated = Signal(str, int)
    _decoded = Signal(object, int)  # code, scan generation it was decoded in
    _preview = Signal(str, int)

    def __init__(self, camera: Any, role: str, previews: PreviewStore, *, pipeline: DecodePipeline | None = None,
                 preview_fps: float = 10.0, preview_size: tuple[int, int] = (960, 540),
                 debounce_s: float = 3.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.camera = camera
        self.role = role
        self.previews = previews
        self.pipeline = pipeline or DecodePipeline("live")
        self.debouncer = Debouncer(hold_s=debounce_s)
        self.preview_interval = 1.0 / preview_fps if preview_fps > 0 else float("inf")
        self.preview_size = preview_size
        self.decode_threads: set[int] = set()  # which threads decoded (tests prove it is never the UI's)
        self.frames_decoded = 0
        self.frames_unreadable = 0
        self._scanning = threading.Event()
        self._generation = 0  # bumped by resume and pause (UI thread); read by the worker
        self.codes_dropped_stale = 0  # decoded in a scan that had ended: not delivered
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._decoded.connect(self._emit_decoded, Qt.ConnectionType.QueuedConnection)
        self._preview.connect(self.previewUpdated, Qt.ConnectionType.QueuedConnection)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"scanner-{self.role}", daemon=True)
            self._thread.start()

    @Slot()
    def resume(self) -> None:
        """Start decoding (previews run whenever the service runs), with nothing tracked from before."""
        self._generation += 1
        self.debouncer.reset()
        self.pipeline.reset()
        self._scanning.set()

    @Slot()
    def pause(self) -> None:
        self._generation += 1
        self._scanning.clear()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @Slot(object, int)
    def _emit_decoded(self, code: DecodedCode, generation: int) -> None:
        if generation != self._generation or not self._scanning.is_set():
            self.codes_dropped_stale += 1
            return
        self.codeDecoded.emit(code)

    def _run(self) -> None:
        seq = 0
        next_preview = 0.0
        while not self._stop.is_set():
            frame = self.camera.wait_for_frame(seq, timeout=0.5)
            if frame is None:
                continue
            seq = frame.seq
            image = frame.image
            if image is None or getattr(image, "size", 0) == 0:
                self._unreadable()
                continue
            now = time.monotonic()
            if now >= next_preview:
                try:
                    rgb = preview_rgb888(image, *self.preview_size)
                except Exception:  # not an image (wrong shape or type): skip it, keep the loop alive
                    self._unreadable()
                    continue
                self.previews.put(self.role, rgb)
                self._preview.emit(self.role, seq)
                next_preview = now + self.preview_interval
            if not self._scanning.is_set():
                continue
            self.decode_threads.add(threading.get_ident())
            generation = self._generation
            try:
                codes = self.pipeline.decode(image)
            except UnreadableFrame:
                self._unreadable()
                continue
            except Exception as exc:  # a decoder bug must not kill live scanning
                log.error("decoding failed: %s", type(exc).__name__)
                continue
            self.frames_decoded += 1
            if generation != self._generation:  # the scan ended while this frame was decoded
                self.codes_dropped_stale += len(codes)
                continue
            for code in self.debouncer.filter(codes):
                self._decoded.emit(code, generation)

    def _unreadable(self) -> None:
        self.frames_unreadable += 1
        if self.frames_unreadable == 1 or self.frames_unreadable % 300 == 0:  # ~10 s at 30 fps
            log.warning("camera %s delivered unreadable frames (%d so far)", self.role, self.frames_unreadable)
