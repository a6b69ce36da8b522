"""The README's first command ends in ``kiosk demo``: headless, it must walk the journey, save a PNG
of every screen, see the central's ack and print the masked record."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage


@pytest.mark.slow
def test_headless_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([str(Path(sys.executable).parent / "kiosk"), "demo", "--output", str(tmp_path)],
                         capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert shots == ["01-attract.png", "02-home.png", "03-service-item.png", "04-identify.png", "05-form.png",
                     "06-materials.png", "07-delivery.png", "08-review.png", "09-submitted.png", "10-rating.png",
                     "11-back-to-attract.png"]
    for name in shots:
        img = QImage(str(tmp_path / name))
        assert img.width() >= 800 and img.height() >= 600
    assert "stored and acknowledged" in out.stdout
    assert '"value": "张*"' in out.stdout  # the central's record, masked
    assert "张三" not in out.stdout + out.stderr
