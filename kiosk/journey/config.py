"""Settings of the resident's journey (time-outs); tests use short ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIN_COUNTDOWN_S = 20.0  # WCAG 2.2.1: at least 20 s to extend with a simple action


@dataclass(frozen=True)
class JourneyConfig:
    idle_timeout_s: float = 60.0  # no touch for this long -> the countdown appears
    countdown_s: float = MIN_COUNTDOWN_S  # the countdown before the session is wiped
    status_poll_ms: int = 2_000
    thanks_return_s: float = 6.0  # "thank you" screens go back to the attract loop
    keyboard_root: Path | None = None  # per-session virtual-keyboard user data folders live here
    language: str = "zh"
    elder_mode: bool = False
    voice: bool = True
    voice_volume: int = 70  # percent (kiosk setting voice_volume)
    voice_muted: bool = False  # kiosk setting voice_muted
    site_name: str = ""  # printed on receipts: the setting site_display_name, else the device's site
    hotline: str = ""  # printed on receipts: the setting service_hotline
    tap_guard_s: float = 0.5  # taps this soon after a screen change are ignored (a double tap's second half)
