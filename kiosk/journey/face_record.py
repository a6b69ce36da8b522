"""The face check's result in the resident's session and in the sealed submission (人证核验).

The session keeps one :class:`FaceRecord` under :data:`SESSION_KEY` (``ResidentSession.extra``, wiped with the
session). The submission gets one ``face_check`` field for an item whose catalogue entry asks for the check:
``pass``, ``fail`` or ``not_done``, the score band (high / medium / low / none), the attempts, why, the model and
threshold; and the frontal face as a PNG attachment only when the item keeps the image (``face_image``). Never
the card's photo, never a descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.face.check import MATCH_THRESHOLD
from drivers.face.models import MODELS

SESSION_KEY = "face_check"
MAX_FAILURES = 3  # then the resident is offered staff help and the counter's manual check


@dataclass
class FaceRecord:
    result: str  # pass | fail | not_done
    reason: str  # match | mismatch | liveness | no_face | no_card_photo | error | manual
    band: str = "none"
    attempts: int = 0
    distance: float | None = None
    image_png: bytes | None = None  # only for an item with face_image


def not_done(reason: str) -> FaceRecord:
    return FaceRecord("not_done", reason)


def payload_entry(record: FaceRecord | None, file_index: int | None) -> dict[str, Any]:
    """The sealed field; ``file_index`` names the attachment holding the face image, if any."""
    record = record or not_done("no_card_photo")
    entry: dict[str, Any] = {
        "id": "face_check", "kind": "face_check", "label": "人证核验", "value": record.result,
        "band": record.band, "reason": record.reason, "attempts": record.attempts,
        "distance": None if record.distance is None else round(record.distance, 3),
        "threshold": MATCH_THRESHOLD, "liveness": "turn_prompt",
        "model": "; ".join(f"{m.name} ({m.package} {m.version}, {m.licence})" for m in MODELS),
    }
    if file_index is not None:
        entry["file"] = file_index
    return entry
