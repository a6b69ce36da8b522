"""The one canonical JSON of the protocol: what every signature and MAC covers.

Keys sorted, no spaces (separators ``(",", ":")``), non-ASCII characters as UTF-8 (not ``\\u`` escapes), and
NaN/Infinity refused (``ValueError``): they are not JSON, and a value that has no canonical form must not be
signed. A lone surrogate cannot be UTF-8 and raises ``UnicodeEncodeError`` (a ``ValueError``) too.
"""

from __future__ import annotations

import json
from typing import Any

# What json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False) builds on every
# call, built once (an encoder holds no state between calls).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(obj: Any) -> bytes:
    """``obj`` as canonical JSON bytes; ``ValueError``/``TypeError`` when it has no canonical form."""
    return _ENCODER.encode(obj).encode("utf-8")


__all__ = ["canonical_json"]
