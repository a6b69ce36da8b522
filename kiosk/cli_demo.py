"""``kiosk demo``: the demo beside a private broker and central (a development tool), and ``--gallery``, every
screen rendered and checked for layout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def demo_command(args: argparse.Namespace) -> int:
    """The demo runs a private broker and the central beside this application: it is a development tool
    (``devtools.demo``), in the development install only, never in the kiosk's bundle. It is loaded by name
    so that the kiosk package itself never imports the central (docs/ARCHITECTURE.md, "Contracts")."""
    import importlib

    from kiosk.app import has_display

    if args.gallery:
        return _gallery(Path(args.gallery), args)
    try:
        demo = importlib.import_module("devtools.demo")
    except ModuleNotFoundError as exc:
        if exc.name not in ("devtools", "devtools.demo", "central"):
            raise
        print("kiosk demo: the demo is a development tool and is not installed here (a kiosk's bundle does not "
              "carry the central); run it from a development checkout: bash scripts/demo.sh", file=sys.stderr)
        return 2
    headless = args.headless or not has_display()
    return int(demo.run_demo(Path(args.output), headless=headless, timeout_s=args.timeout))


def _gallery(output: Path, args: argparse.Namespace) -> int:
    """Every screen in zh/en x standard/elder x the panel sizes, PNGs and layout.json (kiosk/gallery.py):
    exit 0 with zero violations, 1 otherwise. Needs no broker or central (the kiosk's own code only)."""
    from kiosk.gallery import LANGUAGES, MODES, RESOLUTIONS, render_gallery

    sizes = tuple(tuple(int(n) for n in s.lower().split("x")) for s in args.sizes.split(",")) if args.sizes \
        else RESOLUTIONS
    report = render_gallery(output, resolutions=sizes,  # type: ignore[arg-type]
                            languages=tuple(args.languages.split(",")) if args.languages else LANGUAGES,
                            modes=MODES)
    summary = report.as_json()
    print(f"kiosk demo --gallery: {summary['shots']} screens in {output}, {summary['violations']} layout "
          f"violation(s) {summary['by_check'] or ''}; details in {output / 'layout.json'}")
    for error in report.errors:
        print(f"  could not render: {error}", file=sys.stderr)
    return 0 if summary["violations"] == 0 and not report.errors else 1
