"""``python -m central.cli``: as ``kiosk-central``."""

from central.cli import main

raise SystemExit(main())
