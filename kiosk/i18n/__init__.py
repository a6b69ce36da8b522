"""Screen text in Simplified Chinese (default) and English; QML reads it as ``journey.s.<key>``."""

from kiosk.i18n.strings import LANGUAGES, STRINGS, table

__all__ = ["LANGUAGES", "STRINGS", "table"]
