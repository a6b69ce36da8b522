"""One face-check attempt off the UI thread: frames from the face camera into :class:`drivers.face.check.FaceCheck`,
a mirrored preview for the screen, and each step reported through a callback (the view-model turns it into a
queued Qt signal).

Nothing of the face outlives the attempt here: the frames are the camera's latest-frame slot (replaced by the
next frame), the check and its frontal frame are dropped when the attempt ends or is stopped, and the preview is
cleared. The caller gets the frontal crop only when it asked for it (the catalogue item keeps the image).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from drivers.camera.frames import preview_rgb888
from drivers.face.check import FaceCheck, Outcome, Step
from drivers.face.engine import FaceEngine
from drivers.face.liveness import TurnChallenge
from drivers.idcard.photo import decode_bmp
from kiosk.camera.preview import PreviewStore

log = logging.getLogger("kiosk.face")

FACE = "face"  # the face camera's role (drivers config: cameras.face)
PREVIEW_SIZE = (640, 480)


@dataclass(frozen=True)
class Report:
    """What the attempt says now: a prompt key, the preview's frame number, and at the end the outcome (and the
    frontal face as PNG bytes when ``keep_image``)."""

    attempt: int
    prompt: str
    preview_no: int = 0
    outcome: Outcome | None = None
    image_png: bytes | None = None


class FaceRunner:
    def __init__(self, camera: Any, previews: PreviewStore, engine: FaceEngine | None = None) -> None:
        self.camera = camera
        self.previews = previews
        self.engine = engine or FaceEngine()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, attempt: int, card_bmp: bytes, report: Callable[[Report], None], *, keep_image: bool,
              direction: str | None = None, time_limit_s: float = 25.0) -> None:
        self.stop()
        self._stop = threading.Event()
        self.previews.open(FACE)
        self._thread = threading.Thread(
            target=self._run, name="face-check", daemon=True,
            args=(attempt, card_bmp, report, keep_image, direction, time_limit_s, self._stop))
        self._thread.start()

    def stop(self) -> None:
        """End the attempt now (screen left, session wiped); its thread reports nothing more."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.previews.close(FACE)

    def _run(self, attempt: int, card_bmp: bytes, report: Callable[[Report], None], keep_image: bool,
             direction: str | None, time_limit_s: float, stop: threading.Event) -> None:
        try:
            self.engine.load()
            card = decode_bmp(card_bmp)
            described = self.engine.describe_card(card) if card is not None else None
            if described is None:
                if not stop.is_set():
                    report(Report(attempt, "done", outcome=Outcome(False, "no_card_photo", None, "none")))
                return
            challenge = TurnChallenge(direction=direction) if direction else TurnChallenge()
            check = FaceCheck(self.engine, described[1], challenge, time_limit_s=time_limit_s)
            self._loop(attempt, check, report, keep_image, stop)
        except Exception as exc:  # a broken model file or camera: not done, never a crash of the UI
            log.warning("face check failed: %s", type(exc).__name__)
            if not stop.is_set():
                report(Report(attempt, "done", outcome=Outcome(False, "error", None, "none")))

    def _loop(self, attempt: int, check: FaceCheck, report: Callable[[Report], None], keep_image: bool,
              stop: threading.Event) -> None:
        seq = 0
        shown = 0
        while not stop.is_set():
            frame = self.camera.wait_for_frame(seq, timeout=1.0)
            if frame is None:
                step = check.feed(np.zeros((8, 8), np.uint8))  # no frame: time still runs out
            else:
                seq = frame.seq
                shown += 1
                self.previews.put(FACE, preview_rgb888(cv2.flip(frame.image, 1), *PREVIEW_SIZE))  # a mirror
                step = check.feed(frame.image)
            if stop.is_set():
                return
            if step.outcome is not None:
                report(Report(attempt, step.prompt, shown, step.outcome, _png(check) if keep_image else None))
                return
            report(Report(attempt, step.prompt, shown))


def _png(check: FaceCheck) -> bytes | None:
    crop = check.crop()
    if crop is None:
        return None
    ok, png = cv2.imencode(".png", crop)
    return png.tobytes() if ok else None


__all__ = ["FACE", "FaceRunner", "Report", "Step"]
