"""Screen text in Simplified Chinese (default) and English; QML reads it as ``journey.s.<key>``."""

from kiosk.i18n.commitment import COMMITMENT
from kiosk.i18n.face import FACE
from kiosk.i18n.guidance import GUIDANCE
from kiosk.i18n.strings import LANGUAGES, STRINGS, table

_CLASHES = sorted((set(GUIDANCE) & set(STRINGS)) | (set(COMMITMENT) & (set(STRINGS) | set(GUIDANCE))))
_CLASHES += sorted(set(FACE) & (set(STRINGS) | set(GUIDANCE) | set(COMMITMENT)))
assert not _CLASHES, f"text keys defined twice: {_CLASHES}"
STRINGS.update(GUIDANCE)
STRINGS.update(COMMITMENT)
STRINGS.update(FACE)

__all__ = ["LANGUAGES", "STRINGS", "table"]
