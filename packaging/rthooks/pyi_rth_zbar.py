"""Runtime hook: pyzbar finds the libzbar shipped inside the bundle before any system copy.

pyzbar loads zbar with ``ctypes.util.find_library("zbar")``, which only searches the system's linker cache;
the bundle carries its own ``libzbar.so.0`` so a machine without the ``libzbar0`` package still decodes.
"""

import ctypes.util
import os
import sys

_bundled = os.path.join(getattr(sys, "_MEIPASS", ""), "libzbar.so.0")
_find_library = ctypes.util.find_library


def _find_library_bundled_first(name: str) -> str | None:
    if name == "zbar" and os.path.exists(_bundled):
        return _bundled
    return _find_library(name)


ctypes.util.find_library = _find_library_bundled_first
