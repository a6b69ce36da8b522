"""Voice prompts through Qt TextToSpeech where a voice exists; silent otherwise, never failing."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from PySide6.QtCore import QLocale, QObject

log = logging.getLogger("kiosk.voice")


class Voice(QObject):
    """``say(text)`` speaks a prompt (interrupting the previous one, ADA 707) or does nothing."""

    def __init__(self, parent: QObject | None = None, *, engine: str | None = None) -> None:
        super().__init__(parent)
        self._tts: Any = None
        self.available = False
        self.enabled = True
        self.spoken = 0
        try:
            from PySide6.QtTextToSpeech import QTextToSpeech

            tts = QTextToSpeech(engine, self) if engine else QTextToSpeech(self)
            if tts.state() == QTextToSpeech.State.Error:
                raise RuntimeError("speech engine in error state")
            locales = [loc for loc in tts.availableLocales() if loc.language() == QLocale.Language.Chinese]
            if locales:
                tts.setLocale(locales[0])
            voices = tts.availableVoices()
            self._tts = tts
            self.available = bool(voices) or bool(locales)
        except Exception as exc:  # no plugin, no speech daemon, no voice: stay silent
            log.info("voice prompts unavailable: %s", type(exc).__name__)
            self._tts = None
            self.available = False

    def say(self, text: str) -> None:
        if not (self.enabled and self.available and self._tts is not None and text):
            return
        try:
            self._tts.stop()
            self._tts.say(text)
            self.spoken += 1
        except Exception as exc:  # pragma: no cover - engine faults must not reach the UI
            log.info("voice prompt failed: %s", type(exc).__name__)

    def stop(self) -> None:
        if self._tts is not None:
            with contextlib.suppress(Exception):  # stopping silence is never an error
                self._tts.stop()
