"""The document camera's quality check (drivers.camera.quality) in plain words for the resident."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.camera.quality import DocumentQuality

ADVICE_KEYS = {"": "qualityOk", "dark": "qualityDark", "no_document": "qualityNoDocument",
               "glare": "qualityGlare", "blur": "qualityBlur"}


def advice(quality: DocumentQuality | None, s: Mapping[str, str]) -> tuple[str, bool]:
    """(text, usable): one instruction for the first problem found; ("", True) when nothing was checked."""
    if quality is None:
        return "", True
    return s[ADVICE_KEYS.get(quality.problem, "qualityBlur")], quality.ok
