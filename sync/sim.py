"""``kiosk-sim``: headless kiosks running the real sync engine (arrives with the sync engine issue)."""

from __future__ import annotations

from sync.cli_common import not_yet_available


def main(argv: list[str] | None = None) -> int:
    not_yet_available("kiosk-sim")


if __name__ == "__main__":
    raise SystemExit(main())
