"""The resident's handwritten signature under the item's 告知承诺: strokes as vectors, rendered to PNG.

The signing pad (``kiosk/qml/components/SignaturePad.qml``) reports the finger's path in the pad's own
pixels; :class:`Ink` keeps it as integer points, one list per stroke. At confirmation the strokes are
checked (:func:`problem`), rendered to a PNG with Qt (:func:`render_png`, deterministic: the same strokes
give the same bytes) and kept in the resident's session (:data:`SESSION_KEY` in
``ResidentSession.extra``) until the submission seals both, the PNG as an attachment and the vectors in
the sealed fields (:func:`payload_entry`). Nothing of it is written anywhere else; the session's wipe
drops it with the rest of the resident's data.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen

SESSION_KEY = "signature"  # ResidentSession.extra[SESSION_KEY]: the confirmed Signature
PNG_WIDTH = 800  # pixels of the rendered signature; its height follows the pad's aspect ratio
MAX_POINTS = 4_000  # a minute of ink at 60 points a second (~50 KB of vectors); points beyond are dropped
MAX_STROKES = 200
MIN_INK = 0.5  # the ink's total length must reach half the pad's width: a dot or a tick is no signature
MIN_POINTS = 8


@dataclass
class Ink:
    """What the finger drew on a pad of ``width`` × ``height`` pixels: strokes of integer points."""

    width: int = 1
    height: int = 1
    strokes: list[list[tuple[int, int]]] = field(default_factory=list)

    def resize(self, width: float, height: float) -> None:
        """The pad's size. Ink already drawn is scaled with it (a message appearing above the pad must not
        lose the signature, nor leave it off the pad's new edges)."""
        w, h = max(1, round(width)), max(1, round(height))
        if (w, h) == (self.width, self.height):
            return
        sx, sy = w / self.width, h / self.height
        self.width, self.height = w, h
        self.strokes = [[self._clamp(x * sx, y * sy) for x, y in s] for s in self.strokes]

    @property
    def points(self) -> int:
        return sum(len(s) for s in self.strokes)

    def begin(self, x: float, y: float) -> bool:
        if len(self.strokes) >= MAX_STROKES or self.points >= MAX_POINTS:
            return False
        self.strokes.append([self._clamp(x, y)])
        return True

    def add(self, x: float, y: float) -> bool:
        if not self.strokes or self.points >= MAX_POINTS:
            return False
        p = self._clamp(x, y)
        if p == self.strokes[-1][-1]:
            return False
        self.strokes[-1].append(p)
        return True

    def clear(self) -> None:
        self.strokes.clear()

    def length(self) -> float:
        """The ink's total length in pad pixels."""
        return sum(math.dist(a, b) for s in self.strokes for a, b in itertools.pairwise(s))

    def _clamp(self, x: float, y: float) -> tuple[int, int]:
        return (min(max(round(x), 0), self.width - 1), min(max(round(y), 0), self.height - 1))

    def vectors(self) -> dict[str, Any]:
        """The strokes as they travel (sealed): the pad's size and each stroke's points."""
        return {"width": self.width, "height": self.height, "strokes": [[list(p) for p in s] for s in self.strokes]}


def ink_from_vectors(data: Any) -> Ink:
    """The :class:`Ink` of :meth:`Ink.vectors` (e.g. as the central received it); ``ValueError`` if malformed."""
    try:
        width, height, strokes = int(data["width"]), int(data["height"]), data["strokes"]
        ink = Ink(width, height, [[(int(p[0]), int(p[1])) for p in s] for s in strokes])
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise ValueError("not a signature's vectors") from exc
    if width < 1 or height < 1 or len(ink.strokes) > MAX_STROKES or ink.points > MAX_POINTS:
        raise ValueError("not a signature's vectors")
    return ink


def problem(ink: Ink) -> str:
    """An i18n key saying what is wrong with the ink, or ``""``: nothing drawn, or too little to be a name."""
    if not ink.strokes:
        return "errSignEmpty"
    if ink.points < MIN_POINTS or ink.length() < MIN_INK * ink.width:
        return "errSignShort"
    return ""


def render_png(ink: Ink, width: int = PNG_WIDTH) -> bytes:
    """The strokes in black on white, antialiased, ``width`` pixels wide, as PNG bytes (deterministic)."""
    scale = width / ink.width
    height = max(1, round(ink.height * scale))
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pen = QPen(QColor("black"), max(2.0, 5.0 * scale), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        for stroke in ink.strokes:
            path = QPainterPath(QPointF(stroke[0][0] * scale, stroke[0][1] * scale))
            if len(stroke) == 1:  # a dot
                path.lineTo(QPointF(stroke[0][0] * scale + 0.1, stroke[0][1] * scale))
            for x, y in stroke[1:]:
                path.lineTo(QPointF(x * scale, y * scale))
            painter.drawPath(path)
    finally:
        painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]  # the stubs want bytes; PySide6 takes str
        raise RuntimeError("the signature could not be encoded")
    buffer.close()
    return bytes(data.data())


@dataclass(frozen=True)
class Signature:
    """A confirmed signature: the PNG, the vectors it was drawn from and the commitment it signs."""

    png: bytes
    vectors: dict[str, Any]
    commitment: str  # the Chinese text the resident confirmed
    signed_at: float  # time.time()

    def __repr__(self) -> str:  # personal data: never in logs or tracebacks
        return f"Signature(<{len(self.png)} bytes PNG>)"


def payload_entry(sig: Signature, file_index: int) -> dict[str, Any]:
    """The sealed field that goes with the signature's attachment ``file_index``."""
    return {"id": "signature", "kind": "signature", "label": "申请人签名", "value": "signed", "file": file_index,
            "commitment": sig.commitment, "signed_at": round(sig.signed_at, 3), "vectors": sig.vectors}
