"""Voice prompts: offline Mandarin and English speech through eSpeak NG (``scripts/setup.sh`` installs it).

Why eSpeak NG run directly and not Qt TextToSpeech's speech-dispatcher backend (measured on Debian 12 with
PySide6 6.11, see docs/VOICE.md): constructing ``QTextToSpeech("speechd")`` blocks the UI thread for
about 3.5 s while the dispatcher spawns; the dispatcher lists the Mandarin voice under the C locale (so
``setLocale(zh)`` finds nothing); and on a machine whose sound device is missing the dispatcher's output
module stays "speaking" for ever, after which every new client hangs in the constructor. A child process
per prompt cannot block the UI: it starts asynchronously, a new prompt kills the previous one (ADA 707:
a new screen interrupts the old prompt), and a missing sound device ends it at once with an error.

The prompt text is always a fixed screen text (``kiosk.i18n``): never a resident's data.
``render_prompt`` writes the same speech (same voice, rate, volume) to a WAV file: the tests check
those files for sound and length, and a technician can listen to them (``docs/VOICE.md``).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

log = logging.getLogger("kiosk.voice")

PROGRAM = "espeak-ng"
# eSpeak NG voices: Mandarin and American English. Mandarin is "cmn-latn-pinyin": eSpeak NG 1.51's plain
# "cmn" (Latin letters read as English) turns most characters into pinyin and then reads that pinyin as
# English words ("请" -> "(en)kI55NTr'i:55"); the pinyin variant says them in Mandarin with their tones.
VOICES = {"zh": "cmn-latn-pinyin", "en": "en-us"}
# Words per minute: eSpeak's default is 175; elderly listeners follow a slower pace better.
RATE_WPM = {"zh": 145, "en": 150}
DEFAULT_VOLUME = 70  # percent; the kiosk setting ``voice_volume``
GAP_10MS = 2  # pause between words, in units of 10 ms

# The prompt of every resident screen: screen -> i18n key. The view-models may give a better one
# (the item's name, the receipt's state); these are the fallbacks, and the repeat button says them.
SCREEN_PROMPTS = {
    "attract": "welcome",
    "home": "chooseService",
    "item": "voiceItem",
    "identify": "identifyCard",
    "face": "faceIntro",
    "form": "fillForm",
    "materials": "materialsHint",
    "delivery": "deliveryTitle",
    "review": "reviewTitle",
    "sign": "signVoice",
    "done": "doneOnline",
    "rating": "rateTitle",
    "complaint": "complaintTitle",
    "status": "statusHint",
    "thanks": "voiceThanks",
    "paused": "paused",
    "maintenance": "maintenanceDefault",
}
# Screens whose prompt is not spoken when they appear (nobody is standing there); 🔊 still says it.
SILENT_ON_ENTRY = ("attract", "paused", "maintenance")


def language_of(text: str) -> str:
    """``zh`` when the text has any CJK character, else ``en``: the prompt picks its own voice."""
    return "zh" if any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text) else "en"


def amplitude(volume: int) -> int:
    """eSpeak's amplitude (0-200, default 100) for a volume in percent (0-100)."""
    return max(0, min(200, round(max(0, min(100, volume)) * 2)))


def espeak_arguments(text: str, *, lang: str | None = None, volume: int = DEFAULT_VOLUME,
                     wav: Path | None = None) -> list[str]:
    """The command-line arguments (after the program) that speak ``text`` or write it to ``wav``."""
    lang = lang if lang in VOICES else language_of(text)
    args = ["-v", VOICES[lang], "-s", str(RATE_WPM[lang]), "-g", str(GAP_10MS), "-a", str(amplitude(volume))]
    if wav is not None:
        args += ["-w", str(wav)]
    return [*args, "--", text]


def find_program() -> str | None:
    return shutil.which(PROGRAM)


def has_mandarin(program: str) -> bool:
    """True when eSpeak NG has its Mandarin voice (the espeak-ng-data package)."""
    try:
        out = subprocess.run([program, "--voices=cmn"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split()[1:2] == [VOICES["zh"]] for line in out.stdout.splitlines()[1:])


def render_prompt(text: str, wav: Path, *, lang: str | None = None, volume: int = DEFAULT_VOLUME) -> Path:
    """Write the spoken prompt to ``wav`` exactly as the kiosk speaks it; raises ``RuntimeError`` without
    eSpeak NG."""
    program = find_program()
    if program is None:
        raise RuntimeError("espeak-ng is not installed (scripts/setup.sh installs it)")
    subprocess.run([program, *espeak_arguments(text, lang=lang, volume=volume, wav=wav)], check=True,
                   capture_output=True, timeout=60)
    return wav


class Voice(QObject):
    """``say(text)`` speaks a prompt, interrupting the one before; ``repeat()`` says the last one again.

    Muted or without eSpeak NG it stays silent and never fails; it still remembers the last prompt.
    """

    stateChanged = Signal()

    def __init__(self, parent: QObject | None = None, *, volume: int = DEFAULT_VOLUME, muted: bool = False,
                 program: str | None = None) -> None:
        super().__init__(parent)
        self.enabled = True  # kept for callers that switch prompts on again (elder mode)
        self.spoken = 0
        self.failures = 0
        self.last_text = ""
        self._volume = max(0, min(100, int(volume)))
        self._muted = bool(muted)
        self._process: QProcess | None = None
        self._program = program or find_program()
        self.available = self._program is not None and has_mandarin(self._program)
        if not self.available:
            log.warning("voice prompts unavailable: %s", "no Mandarin voice in espeak-ng" if self._program
                        else "espeak-ng is not installed")

    @property
    def volume(self) -> int:
        return self._volume

    @property
    def muted(self) -> bool:
        return self._muted

    def configure(self, *, volume: int | None = None, muted: bool | None = None) -> None:
        """New settings (kiosk config ``voice_volume`` / ``voice_muted``); muting stops the current prompt."""
        if volume is not None:
            self._volume = max(0, min(100, int(volume)))
        if muted is not None and muted != self._muted:
            self._muted = bool(muted)
            if self._muted:
                self.stop()
        self.stateChanged.emit()

    def say(self, text: str) -> None:
        if not text:
            return
        self.last_text = text
        if not (self.enabled and self.available and not self._muted and self._volume > 0):
            return
        self.stop()
        process = QProcess(self)
        process.setStandardOutputFile(QProcess.nullDevice())
        process.setStandardErrorFile(QProcess.nullDevice())
        # Bound methods, not lambdas: Qt then knows this Voice is the receiver and drops the connections when
        # it is destroyed, so a prompt still running at that moment can never call into a deleted object.
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._process = process
        assert self._program is not None
        process.start(self._program, espeak_arguments(text, volume=self._volume))
        self.spoken += 1

    def repeat(self) -> None:
        """The 🔊 button: the last prompt again (even when it was muted then, if no longer)."""
        self.say(self.last_text)

    def _on_finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        process = self.sender()
        if isinstance(process, QProcess):
            self._finished(process, code)

    def _on_error(self, _error: QProcess.ProcessError) -> None:
        process = self.sender()
        if isinstance(process, QProcess):
            self._finished(process, -1)

    def _finished(self, process: QProcess, code: int) -> None:
        if code != 0 and process is self._process and process.exitStatus() == QProcess.ExitStatus.NormalExit:
            self.failures += 1
            if self.failures == 1:  # one line, not one per prompt: no sound device, typically
                log.warning("voice prompt could not be played (eSpeak NG exit %d): check the sound device", code)
        if process is self._process:
            self._process = None
        process.deleteLater()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(RuntimeError):  # already gone: nothing to stop
            process.blockSignals(True)  # an interrupted prompt is no failure, and nothing calls back
            if process.state() != QProcess.ProcessState.NotRunning:
                process.kill()
                process.waitForFinished(2000)
            process.deleteLater()

