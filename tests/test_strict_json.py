"""sync.protocol.strict_json.loads keeps one decoder for every call and so repeats what json.loads does before it
decodes (bytes' encoding, the BOM, the argument's type): it must answer exactly as json.loads with the same hooks
does, values and errors alike."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync.protocol import strict_json

DOC = {"a": [1, -2, 3.5, "受理编号", None, True], "b": {"c": ""}}
TEXT = json.dumps(DOC, ensure_ascii=False)


def _reference(data: Any) -> Any:
    """json.loads with the module's own hooks: what strict_json.loads did before it kept one decoder."""
    return json.loads(data, parse_int=strict_json._parse_int, parse_float=strict_json._parse_float,
                      parse_constant=strict_json._no_constant)


def _outcome(fn: Any, data: Any) -> tuple[str, Any]:
    try:
        return "value", fn(data)
    except Exception as exc:  # the type and message are what is compared
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("data", [
    TEXT, TEXT.encode("utf-8"), bytearray(TEXT.encode("utf-8")), TEXT.encode("utf-16"), TEXT.encode("utf-16-le"),
    TEXT.encode("utf-32"), b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "\ufeff" + TEXT, b"", "", "{", b"\xff\xfe\x00",
    b'{"n": 99999999999999999999999}', '{"n": 1e400}', "NaN", "[1, 2] x", 12, None, memoryview(b"{}"),
], ids=lambda d: type(d).__name__ + ":" + repr(d)[:24])
def test_answers_as_json_loads_with_the_same_hooks(data: Any) -> None:
    assert _outcome(strict_json.loads, data) == _outcome(_reference, data)


def test_keyword_arguments_still_reach_json_loads() -> None:
    assert strict_json.loads(TEXT, object_pairs_hook=list)[0][0] == "a"
    with pytest.raises(ValueError, match="out of range"):
        strict_json.loads('{"n": 1e400}', object_pairs_hook=list)
