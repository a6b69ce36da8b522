"""What service mode may ask of the resident's journey: a typed interface, nothing else.

Service mode (kiosk/service_mode) ends a resident's session before its PIN pad opens and applies new
settings without a restart. It gets a :class:`JourneyControl` (the journey's frame view-model implements
it); it never calls into the journey's screens or reads its personal data.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class JourneyControl(Protocol):
    def end_session(self) -> None:
        """Forget the resident's data at once and show the attract screen."""

    def apply_settings(self, *, idle_timeout_s: float, language: str, elder_mode: bool,
                       voice_volume: int | None = None, voice_muted: bool | None = None) -> None:
        """New defaults from the technician: the idle time-out and the voice (volume 0-100, mute) at once,
        language and text size between residents."""

    def refresh_status(self) -> None:
        """Read the sync state now (the header's online badge), e.g. right after an enrolment went online."""
