"""Voice prompts (issue 14, finding 6): real Mandarin and English speech from the engine scripts/setup.sh
installs, rendered to audio files and measured; the Voice object's settings (mute, volume) and repeat."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiosk.i18n import table
from kiosk.journey import voice
from kiosk.journey.voice import SCREEN_PROMPTS, Voice, espeak_arguments, render_prompt

ROOT = Path(__file__).resolve().parent.parent
RMS_FLOOR = 300.0  # int16 RMS: about -40 dBFS; eSpeak's speech at the default volume measures 3,000-5,000
# The shortest a prompt may last: Mandarin is one syllable per character (eSpeak at 145 wpm: ~0.3 s each);
# English about 12-15 characters per second. Generous floors: a skipped or truncated text is far shorter.
MIN_S_PER_HAN = 0.15
MIN_S_PER_LATIN_CHAR = 0.035


def _measure(path: Path) -> tuple[float, float]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        frames = w.getnframes()
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(frames), dtype=np.int16).astype(np.float64)
    return frames / rate, float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0


def _han_count(text: str) -> int:
    return sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")


def test_setup_installs_the_engine_and_a_fresh_machine_has_a_mandarin_voice(caplog: pytest.LogCaptureFixture) -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert re.search(r"^\s*espeak-ng\b", setup, re.M), "scripts/setup.sh must install espeak-ng"
    with caplog.at_level(logging.INFO, logger="kiosk.voice"):
        v = Voice()
    assert v.available
    assert "voice prompts unavailable" not in caplog.text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_screens_prompt_renders_to_audible_speech_of_plausible_length(lang: str, tmp_path: Path) -> None:
    s = table(lang)
    assert set(SCREEN_PROMPTS) >= {"home", "item", "identify", "form", "materials", "delivery", "review", "done",
                                    "rating", "complaint", "status", "thanks"}
    measured = {}
    for screen, key in SCREEN_PROMPTS.items():
        text = s[key]
        wav = render_prompt(text, tmp_path / f"{lang}-{screen}.wav")
        seconds, rms = _measure(wav)
        measured[screen] = (round(seconds, 2), round(rms))
        assert rms > RMS_FLOOR, f"{screen}: silent ({rms:.0f})"
        if lang == "zh":
            floor = _han_count(text) * MIN_S_PER_HAN
            assert _han_count(text) > 0, f"{screen}: the Chinese prompt has no Chinese text: {text!r}"
        else:
            floor = sum(c.isalnum() for c in text) * MIN_S_PER_LATIN_CHAR
        assert seconds >= floor, f"{screen}: {seconds:.2f} s is too short for {text!r} (at least {floor:.2f} s)"
        assert seconds < 30, f"{screen}: {seconds:.2f} s"
    print(lang, measured)


def test_chinese_prompts_are_said_in_mandarin_not_as_english_pinyin() -> None:
    """eSpeak NG's plain "cmn" voice reads most characters' pinyin as English words; the kiosk's voice must
    not switch to English anywhere in a Chinese prompt (its phonemes carry no "(en)" switch)."""
    program = shutil.which("espeak-ng")
    assert program is not None
    for key in set(SCREEN_PROMPTS.values()) | {"idleTitle", "callStaffSent", "guideCard"}:
        text = table("zh")[key]
        out = subprocess.run([program, "-q", "-x", *espeak_arguments(text)], capture_output=True, text=True,
                             check=True, timeout=30).stdout
        assert "(en)" not in out, f"{key}: {text!r} -> {out.strip()[:120]}"
        assert re.search(r"\d\d", out), f"{key}: no Mandarin tones in {out.strip()[:120]}"


def test_volume_setting_changes_the_loudness(tmp_path: Path) -> None:
    text = table("zh")["identifyCard"]
    _s, quiet = _measure(render_prompt(text, tmp_path / "quiet.wav", volume=25))
    _s, loud = _measure(render_prompt(text, tmp_path / "loud.wav", volume=90))
    assert loud > quiet * 2.5, (quiet, loud)


def test_voice_mute_volume_and_repeat(qapp: object) -> None:
    v = Voice(volume=60)
    assert v.available
    v.say("请选择办理事项")
    assert v.spoken == 1 and v.last_text == "请选择办理事项"
    v.configure(muted=True)
    v.say("请核对信息")
    assert v.spoken == 1, "a muted voice says nothing"
    assert v.last_text == "请核对信息", "but remembers the prompt for the repeat button"
    v.configure(muted=False)
    v.repeat()
    assert v.spoken == 2
    v.configure(volume=0)
    v.say("您还在吗？")
    assert v.spoken == 2, "volume 0 is silence"
    v.configure(volume=250)
    assert v.volume == 100
    v.stop()


def test_a_missing_engine_is_reported_once_and_never_fails(qapp: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="kiosk.voice"):
        v = Voice(program="/nonexistent/espeak-ng")
    assert not v.available
    assert "voice prompts unavailable" in caplog.text
    v.say("请选择办理事项")
    v.repeat()
    assert v.spoken == 0


def test_language_of_a_prompt_picks_its_voice() -> None:
    assert voice.language_of("请核对信息") == "zh"
    assert voice.language_of("Please check") == "en"
    assert espeak_arguments("请核对信息")[1] == voice.VOICES["zh"]
    assert espeak_arguments("Please check")[1] == voice.VOICES["en"]


def test_voice_and_receipt_settings_are_kiosk_settings(tmp_path: Path) -> None:
    from sync.kiosk_config import ConfigError, apply_updates, load_config

    assert load_config(tmp_path)["voice_volume"] == 70 and load_config(tmp_path)["voice_muted"] is False
    _version, config = apply_updates(tmp_path, {"voice_volume": "40", "voice_muted": "true",
                                                "service_hotline": "010-64040000"})
    assert (config["voice_volume"], config["voice_muted"], config["service_hotline"]) == (40, True, "010-64040000")
    for bad in ({"voice_volume": "101"}, {"voice_muted": "loud"}, {"service_hotline": "1" * 33}):
        with pytest.raises(ConfigError):
            apply_updates(tmp_path, bad)
    assert load_config(tmp_path)["voice_volume"] == 40, "a refused change changes nothing"


def test_a_voice_destroyed_mid_prompt_calls_nothing_back(qapp: Any) -> None:
    """The journey's view-models (and their Voice) are destroyed between test sessions and at shutdown while a
    prompt may still be playing: the process's finished signal must not reach the deleted Voice (it crashed the
    next Qt test with a Bus error / "QProcess already deleted" when the connections were lambdas)."""
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent

    for _ in range(3):
        v = Voice(volume=60)
        v.say("请将身份证放在读卡区，请将身份证放在读卡区，请将身份证放在读卡区")
        shiboken6.delete(v)  # the C++ object goes while eSpeak NG is still speaking
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()
    v = Voice(volume=60)
    v.say("请选择办理事项")
    v.stop()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert v.spoken == 1
