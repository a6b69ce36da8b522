"""Camera previews for QML: ``Image { source: "image://camera/<role>?" + frameNo; asynchronous: true }``.

The scanner's worker thread converts each preview frame once (BGR -> scaled RGB888) and wraps it in a
QImage without another copy; the image provider hands it to Qt Quick, which asks for it from its own
loader thread for asynchronous Images, so the UI thread never converts pixels.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QImage
from PySide6.QtQuick import QQuickImageProvider

from drivers.camera.frames import RgbImage

PROVIDER_ID = "camera"


class PreviewStore:
    """The newest preview per camera role (a QImage and the buffer it wraps, kept alive together)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._images: dict[str, tuple[QImage, RgbImage]] = {}
        self._closed: set[str] = set()

    def put(self, role: str, rgb: RgbImage) -> None:
        image = QImage(rgb.data.data, rgb.width, rgb.height, rgb.bytes_per_line, QImage.Format.Format_RGB888)
        with self._lock:
            if role not in self._closed:  # a frame still in flight when its camera was switched off is dropped
                self._images[role] = (image, rgb)

    def close(self, role: str) -> None:
        """The camera of ``role`` is off: drop its preview, and any frame its thread still puts."""
        with self._lock:
            self._closed.add(role)
            self._images.pop(role, None)

    def open(self, role: str) -> None:
        with self._lock:
            self._closed.discard(role)

    def get(self, role: str) -> QImage | None:
        with self._lock:
            entry = self._images.get(role)
        return entry[0] if entry else None

    def clear(self, role: str | None = None) -> None:
        """Drop previews (at the end of a session nothing of the last resident's documents stays)."""
        with self._lock:
            if role is None:
                self._images.clear()
            else:
                self._images.pop(role, None)


class CameraImageProvider(QQuickImageProvider):
    def __init__(self, store: PreviewStore) -> None:
        super().__init__(QQuickImageProvider.ImageType.Image)
        self.store = store

    def requestImage(self, image_id: str, size: QSize, requested: QSize) -> QImage:
        role = image_id.split("?", 1)[0]
        image = self.store.get(role)
        if image is None:
            blank = QImage(16, 9, QImage.Format.Format_RGB888)
            blank.fill(QColor("#202020"))
            image = blank
        else:
            # Qt may use the image after our buffer is replaced: give it its own pixels (the one copy
            # the preview path makes on the way out; decoding never waits on it).
            image = image.copy()
        if size is not None:
            size.setWidth(image.width())
            size.setHeight(image.height())
        if requested.isValid() and (requested.width() > 0 or requested.height() > 0):
            return image.scaled(requested)
        return image
