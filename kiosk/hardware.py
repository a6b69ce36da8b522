"""The kiosk's hardware as the UI sees it: drivers built through ``drivers.registry``, with the
blocking parts (ID-card reads, decoding, capture encoding, OCR, printing) on worker threads. Results
come back to the UI thread as queued signals; the UI thread never waits on a device.

Personal data (identity records, code payloads, photos) travels only in signals and return values,
never in logs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from drivers.camera.frames import preview_rgb888
from drivers.camera.photo import encode_document_photo
from drivers.camera.quality import DocumentQuality, assess
from drivers.interfaces import IdentityRecord
from drivers.registry import Drivers, build_drivers, default_sim_config
from kiosk.background import BackgroundRunner
from kiosk.camera.preview import PreviewStore
from kiosk.camera.scanner import ScannerService

log = logging.getLogger("kiosk.hardware")

SCANNER = "scanner"  # the code scanner camera (e-ID, e-licence, receipt QR codes)
DOCUMENT = "document"  # the document camera (材料, ID card photo)


class GatedCamera:
    """A camera whose frames reach the scanner thread only while the gate is open: no preview, no
    decoding, nothing of a resident's documents kept in memory while no screen needs the camera."""

    def __init__(self, camera: Any) -> None:
        self.camera = camera
        self.gate = threading.Event()

    def wait_for_frame(self, after_seq: int = 0, timeout: float = 1.0) -> Any:
        if not self.gate.wait(timeout):
            return None
        return self.camera.wait_for_frame(after_seq, timeout=timeout)


class IdCardService(QObject):
    """Reads the ID-card reader in its own thread while armed; one record per arming."""

    cardRead = Signal(object)  # IdentityRecord: personal data
    failed = Signal(str)  # an error code, never data
    _read = Signal(object)
    _failed = Signal(str)

    def __init__(self, reader: Any, poll_s: float = 0.4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reader = reader
        self.poll_s = poll_s
        self.read_threads: set[int] = set()
        self._armed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._failed.connect(self.failed, Qt.ConnectionType.QueuedConnection)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="idcard-reader", daemon=True)
            self._thread.start()

    @Slot()
    def arm(self) -> None:
        self._armed.set()

    @Slot()
    def disarm(self) -> None:
        self._armed.clear()

    @property
    def armed(self) -> bool:
        return self._armed.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._armed.set()  # wake the thread
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @Slot(object)
    def _deliver(self, record: IdentityRecord) -> None:
        if self._armed.is_set():
            self._armed.clear()
            self.cardRead.emit(record)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._armed.wait(0.5) or self._stop.is_set():
                continue
            self.read_threads.add(threading.get_ident())
            try:
                record = self.reader.read_card(timeout_s=self.poll_s)
            except Exception as exc:  # a reader fault must not end reading
                self._failed.emit(type(exc).__name__)
                self._stop.wait(0.5)
                continue
            if record is not None:
                self._read.emit(record)
                # Do not read the same card again before the UI has taken this one.
                self._stop.wait(0.2)


def _load_ocr() -> Any | None:
    try:
        from drivers.ocr import OcrIdReader
    except Exception:  # not installed / not written yet / its models cannot load
        return None
    return OcrIdReader


class Hardware(QObject):
    """Everything the resident's screens use of the devices. Any part may be missing (``None``)."""

    codeDecoded = Signal(str, object)  # role, DecodedCode: personal data
    previewUpdated = Signal(str, int)

    def __init__(self, drivers: Drivers | None, previews: PreviewStore | None = None, *,
                 ocr_reader: Any | None = None, enable_ocr: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.drivers = drivers
        self.previews = previews or PreviewStore()
        self.runner = BackgroundRunner(self)  # capture encoding, OCR and printing (not the database's)
        self.scanners: dict[str, ScannerService] = {}
        self.gates: dict[str, GatedCamera] = {}
        cameras = drivers.cameras if drivers else {}
        for role in (SCANNER, DOCUMENT):
            cam = cameras.get(role)
            if cam is None:
                continue
            gate = GatedCamera(cam)
            svc = ScannerService(gate, role, self.previews, preview_fps=10 if role == DOCUMENT else 6,
                                 preview_size=(960, 720) if role == DOCUMENT else (480, 360), parent=self)
            svc.codeDecoded.connect(lambda code, r=role: self.codeDecoded.emit(r, code))
            svc.previewUpdated.connect(self.previewUpdated)
            self.gates[role] = gate
            self.scanners[role] = svc
        self.idcard = IdCardService(drivers.idcard, parent=self) if drivers and drivers.idcard else None
        self.printer = drivers.printer if drivers else None
        self._ocr = ocr_reader
        if self._ocr is None and enable_ocr and DOCUMENT in cameras:
            cls = _load_ocr()
            if cls is not None:
                try:
                    self._ocr = cls(frames=cameras[DOCUMENT])
                except Exception as exc:
                    log.warning("camera ID reading unavailable: %s", type(exc).__name__)
        self._started = False

    # -- life cycle --------------------------------------------------------------------------------

    @classmethod
    def simulated(cls, home: Path, previews: PreviewStore | None = None, **kwargs: Any) -> Hardware:
        """The simulated set of ``kiosk run --sim`` and the demo (cameras, ID-card reader, printer)."""
        return cls(build_drivers(default_sim_config(home), start=True), previews, **kwargs)

    def start(self) -> Hardware:
        if not self._started:
            for svc in self.scanners.values():
                svc.start()
            if self.idcard is not None:
                self.idcard.start()
            self._started = True
        return self

    def close(self) -> None:
        for gate in self.gates.values():
            gate.gate.set()  # let the threads see their stop flag at once
        for svc in self.scanners.values():
            svc.stop()
        if self.idcard is not None:
            self.idcard.stop()
        self.runner.shutdown()
        if self.drivers is not None:
            self.drivers.close()
        self.previews.clear()

    # -- what the screens ask for ------------------------------------------------------------------

    @property
    def has_idcard(self) -> bool:
        return self.idcard is not None

    @property
    def has_scanner(self) -> bool:
        return SCANNER in self.scanners

    @property
    def has_document_camera(self) -> bool:
        return DOCUMENT in self.scanners

    @property
    def face_camera(self) -> Any | None:
        """The face camera (drivers config ``cameras.face``) for 人证核验; read by the face check's own thread
        only while the face screen runs an attempt (kiosk/camera/face_runner.py)."""
        return self.drivers.cameras.get("face") if self.drivers else None

    @property
    def has_printer(self) -> bool:
        return self.printer is not None

    @property
    def has_ocr(self) -> bool:
        return self._ocr is not None and self.has_document_camera

    def use(self, *, scan: bool = False, document: bool = False, card: bool = False) -> None:
        """Switch the devices a screen needs on, and every other one off."""
        if SCANNER in self.scanners:
            self._gate(SCANNER, scan)
            if scan:
                self.scanners[SCANNER].resume()
            else:
                self.scanners[SCANNER].pause()
        if DOCUMENT in self.scanners:
            self._gate(DOCUMENT, document)
        if self.idcard is not None:
            if card:
                self.idcard.arm()
            else:
                self.idcard.disarm()

    def _gate(self, role: str, on: bool) -> None:
        gate = self.gates[role].gate
        if on:
            self.previews.open(role)
            gate.set()
        else:
            gate.clear()
            self.previews.close(role)  # also drops a frame the scanner thread was still converting

    def capture_document(self, key: str, on_done: Callable[[Any], None]) -> None:
        """Take the document camera's newest frame; encode it as the kiosk keeps photos (drivers.camera.photo:
        WebP, longer side ≤ 1600 px), check its quality (document found, blur, glare, darkness) and make a
        thumbnail off the UI thread. ``on_done`` gets a :class:`CapturedPhoto` (the photo's bytes, with
        ``quality``), or an exception."""
        cam = self.drivers.cameras.get(DOCUMENT) if self.drivers else None
        if cam is None:
            on_done(RuntimeError("no document camera"))
            return
        previews = self.previews

        def work() -> bytes:
            frame = cam.latest()
            if frame is None:
                raise RuntimeError("no frame from the document camera")
            encoded = encode_document_photo(frame)  # sized for reading, not the raw frame (drivers.camera.photo)
            previews.put(f"capture-{key}", preview_rgb888(frame, 480, 360))
            photo = CapturedPhoto(encoded.data)
            photo.quality = assess(frame)
            return photo

        self.runner.run(work, on_done, on_done)

    def read_id_by_camera(self, on_done: Callable[[Any], None]) -> None:
        """OCR the ID card face on the document camera, off the UI thread. ``on_done`` gets an
        IdentityRecord or an exception."""
        cam = self.drivers.cameras.get(DOCUMENT) if self.drivers else None
        reader = self._ocr
        if reader is None or cam is None:
            on_done(RuntimeError("camera ID reading is not available"))
            return

        def work() -> IdentityRecord:
            frame = cam.latest()
            if frame is None:
                raise RuntimeError("no frame from the document camera")
            record: IdentityRecord = reader.read_image(frame)
            return record

        self.runner.run(work, on_done, on_done)

    def print_receipt(self, lines: Sequence[str], qr: str, title: str,
                      on_done: Callable[[Any], None], footer: Sequence[str] = ()) -> None:
        printer = self.printer
        if printer is None:
            on_done(RuntimeError("no printer"))
            return

        def work() -> bool:
            printer.print_receipt(list(lines), qr, title=title, footer=list(footer))  # type: ignore[call-arg]
            return True

        self.runner.run(work, on_done, on_done)


class CapturedPhoto(bytes):
    """A document photo (encoded, drivers.camera.photo) with the quality check's result (drivers.camera.quality)."""

    quality: DocumentQuality | None = None


def health_summary(hw: Hardware | None) -> Mapping[str, bool]:
    if hw is None:
        return {"idcard": False, "scanner": False, "document": False, "printer": False, "ocr": False}
    return {"idcard": hw.has_idcard, "scanner": hw.has_scanner, "document": hw.has_document_camera,
            "printer": hw.has_printer, "ocr": hw.has_ocr}
