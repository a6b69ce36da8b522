"""The one executable of the appliance bundle, dispatching to every command of the product.

The bundle ships one frozen interpreter (``street-kiosk``) and symlinks named after the public commands
(``kiosk``, ``kiosk-syncd``, ...): one copy of Qt, OpenCV and Python instead of five. The command is picked
from the name it was started as, or from the first argument (``street-kiosk kiosk-syncd --home ...``).

``street-kiosk -m MODULE ARGS`` runs a module as ``python -m`` would: the product starts its own helper
processes that way (``kiosk demo`` spawns the central and the daemon with ``sys.executable -m ...``), and in
a frozen bundle ``sys.executable`` is this program, not a Python interpreter.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys

COMMANDS = {
    "kiosk": "kiosk.cli",
    "kiosk-syncd": "sync.daemon.cli",
    "kiosk-central": "sync.central.cli",
    "kiosk-scan": "drivers.scan_cli",
    "kiosk-sim": "sync.sim",
}
PROGRAM = "street-kiosk"
EXIT_SCHEMA = 3


def _usage() -> int:
    names = ", ".join(sorted(COMMANDS))
    print(f"usage: {PROGRAM} COMMAND [ARGS...] | {PROGRAM} -m MODULE [ARGS...]\ncommands: {names}", file=sys.stderr)
    return 2


def _bundle_info() -> int:
    """``street-kiosk --bundle-info``: what this bundle loads, as JSON (for technicians and the tests)."""
    import json

    from pyzbar import zbar_library

    from sync.daemon.service import APP_VERSION

    libzbar, _deps = zbar_library.load()
    base = getattr(sys, "_MEIPASS", os.path.dirname(os.path.abspath(__file__)))
    qt = os.path.join(base, "PySide6", "Qt")
    print(json.dumps({
        "version": APP_VERSION,
        "frozen": bool(getattr(sys, "frozen", False)),
        "zbar": libzbar._name,
        "ffmpeg_backend": os.path.exists(os.path.join(qt, "plugins", "multimedia", "libffmpegmediaplugin.so")),
        "virtual_keyboard": os.path.exists(os.path.join(qt, "plugins", "platforminputcontexts",
                                                        "libqtvirtualkeyboardplugin.so")),
        "pinyin": os.path.exists(os.path.join(qt, "qml", "QtQuick", "VirtualKeyboard", "Plugins", "Pinyin",
                                              "libqtvkbpinyinplugin.so")),
    }))
    return 0


def main() -> int:
    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if name not in COMMANDS:
        if args[:1] == ["-m"] and len(args) >= 2:
            module = args[1]
            sys.argv = [module, *args[2:]]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            return 0
        if args[:1] == ["--bundle-info"]:
            return _bundle_info()
        if args[:1] == ["--version"]:
            from sync.daemon.service import APP_VERSION

            print(APP_VERSION)
            return 0
        if not args or args[0] not in COMMANDS:
            return _usage()
        name = args.pop(0)
        sys.argv = [name, *args]
    from sync.upgrade import SchemaError

    module = importlib.import_module(COMMANDS[name])
    try:
        return int(module.main(args) or 0)
    except SchemaError as exc:
        # The database cannot be used by this release (newer schema, failed migration): say so in one line
        # for the journal and the technician, and exit with a code systemd and scripts can tell apart.
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_SCHEMA


if __name__ == "__main__":
    raise SystemExit(main())
