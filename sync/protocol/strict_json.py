"""JSON as the protocol reads it from the wire: every number bounded where it is parsed.

Python's ``json`` takes integers of any size (a 400-digit ``created_at``), ``NaN``, ``Infinity`` and float
literals that overflow to ``inf`` (``1e400``). None of those is something a kiosk sends, and each broke a
step further on (``float()``/``int()`` overflow, a database column that holds 64 bits). Here an integer
outside signed 64 bits, a float that is not finite and the non-JSON constants raise ``ValueError`` (the
same error as any malformed JSON), so every decoder's existing refusal path covers them.
"""

from __future__ import annotations

import json
import math
from typing import Any

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
_MAX_INT_CHARS = 20  # "-9223372036854775808": longer literals are refused before int() converts them


def _parse_int(text: str) -> int:
    if len(text) > _MAX_INT_CHARS:
        raise ValueError("integer out of range")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError("integer out of range")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constant(_name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


# One decoder for every call (it holds no state between calls, as json's own default decoder): json.loads with
# hooks would build a new one, and its scanner, each time.
_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant)


def loads(data: bytes | bytearray | str, **kwargs: Any) -> Any:
    """``json.loads`` with numbers bounded: raises ``ValueError`` (or ``RecursionError`` on absurd nesting)."""
    if kwargs:
        return json.loads(data, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant,
                          **kwargs)
    # What json.loads does before it decodes, then the shared decoder.
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", data, 0)
        text = data
    else:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"the JSON object must be str, bytes or bytearray, not {data.__class__.__name__}")
        text = data.decode(json.detect_encoding(data), "surrogatepass")
    return _DECODER.decode(text)


def is_int64(value: Any) -> bool:
    """An integer (not a bool) that fits a signed 64-bit column."""
    return isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= INT_MAX
