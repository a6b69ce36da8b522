"""A setting changed outside the running kiosk (`kiosk config set`, as a technician types it; the central's
config command goes through the same file) applies live: the voice at once, no restart."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from kiosk import automation as ui
from kiosk import services
from kiosk.journey.session_service import JourneySession
from kiosk.journey.voice import Voice
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from tests.journey_kit import close_kiosk, open_kiosk


def test_kiosk_config_set_changes_the_voice_of_the_running_kiosk(qapp: Any, tmp_path: Any, outbox: Outbox,
                                                                 device: DeviceConfig) -> None:
    k = open_kiosk(tmp_path, outbox, device, hardware=False)
    try:
        js = services.get(JourneySession)
        js.voice = Voice(js)
        js.refresh_state()
        assert ui.process_events_until(lambda: js.state is not None, 5)
        assert (js.voice.volume, js.voice.muted) != (30, True)
        home = outbox.path.parent
        done = subprocess.run([sys.executable, "-m", "kiosk.cli", "config", "--home", str(home), "set",
                               "voice_volume=30", "voice_muted=true"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        # The journey's machine-state poll (every 2 s) picks it up; asked now rather than waited for.
        js.refresh_state()
        assert ui.process_events_until(lambda: (js.voice.volume, js.voice.muted) == (30, True), 5), \
            (js.voice.volume, js.voice.muted)
    finally:
        close_kiosk(k)
