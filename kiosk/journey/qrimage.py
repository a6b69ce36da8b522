"""``image://qr/<text>``: a QR code of a receipt number for the done screen (segno, no network)."""

from __future__ import annotations

import numpy as np
import segno
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage
from PySide6.QtQuick import QQuickImageProvider

PROVIDER_ID = "qr"


def qr_image(text: str, scale: int = 8, border: int = 2) -> QImage:
    modules = np.array(segno.make(text, error="m").matrix, dtype=np.uint8)
    modules = np.pad(modules, border)
    gray = np.kron(1 - modules, np.ones((scale, scale), np.uint8)) * 255
    gray = np.ascontiguousarray(gray)
    h, w = gray.shape
    return QImage(gray.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


class QrImageProvider(QQuickImageProvider):
    def __init__(self) -> None:
        super().__init__(QQuickImageProvider.ImageType.Image)

    def requestImage(self, image_id: str, size: QSize, requested: QSize) -> QImage:
        image = qr_image(image_id.split("?", 1)[0] or " ")
        if size is not None:
            size.setWidth(image.width())
            size.setHeight(image.height())
        return image
