"""``python -m sync.ota guard|status [--root DIR]``: the OTA guard and a look at the releases.

``guard`` rolls back a release that was switched to but missed its health deadline (it may not even
start, so the check cannot live in it): run it from a systemd timer with the *previous* release's
interpreter or bundle. ``status`` prints the releases, ``current`` and the update state as JSON.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from sync.ota.manager import guard_check
from sync.ota.switch import Releases, ota_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync.ota", description="Software releases on this kiosk.")
    parser.add_argument("action", choices=("guard", "status"))
    parser.add_argument("--root", help="OTA root (default $KIOSK_OTA_ROOT or /opt/street-kiosk)")
    args = parser.parse_args(argv)
    releases = Releases(ota_root(args.root))
    if args.action == "guard":
        back_to = guard_check(releases)
        print(f"rolled back to {back_to}" if back_to else "nothing to roll back")
        return 0
    state = releases.load_state()
    print(json.dumps({"root": str(releases.root), "current": releases.current_version(),
                      "installed": releases.installed(), "update": asdict(state) if state else None},
                     ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
