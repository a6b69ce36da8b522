"""The Qt bindings must not leak or free Python's singletons: PySide6 6.12.0 on Python 3.11 dropped a
reference to True on every connected Signal.emit() and to None in processEvents(), so a kiosk aborted
("deallocating True or False") after about a thousand signals. Run in a child so a crash is a failure,
not the end of the test session."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Emitter(QObject):
    fired = Signal(object)
e = Emitter()
seen = []
e.fired.connect(lambda v: seen.append(v))
true0, none0 = sys.getrefcount(True), sys.getrefcount(None)
for i in range(5000):
    e.fired.emit(i)
    if i % 50 == 0:
        app.processEvents()
assert len(seen) == 5000
print(sys.getrefcount(True) - true0, sys.getrefcount(None) - none0)
"""


def test_signals_and_event_processing_keep_python_singletons_alive() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    true_delta, none_delta = map(int, out.stdout.split())
    assert abs(true_delta) < 50 and abs(none_delta) < 50
