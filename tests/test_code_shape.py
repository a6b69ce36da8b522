"""The code's rules of thumb, checked (issue 15): no product module over 500 lines, and no function scoring worse
than D on radon's cyclomatic complexity (E is 31-40, F 41 and more), except what is listed below with the
reason it stays. An entry that no longer needs its exception must leave the list, so the list only shrinks.

Product code is what a deployable ships: kiosk/, drivers/, sync/ and central/ (not devtools/, tests/, bench/).
Run alone: ``.venv/bin/python -m pytest -q tests/test_code_shape.py``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from radon.complexity import cc_rank, cc_visit
from radon.visitors import Class, Function

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("kiosk", "drivers", "sync", "central")
MAX_LINES = 500
MAX_COMPLEXITY = 30  # radon grade D at worst

# Modules allowed over MAX_LINES, and why (keep it short; split rather than add).
LONG_MODULES = {
    "sync/outbox/store.py": "the Outbox class: one transactional API over one SQLite file (open and reconcile, "
                            "enqueue, delivery lanes, marks, resend, counters and states); its refusals went to "
                            "errors.py and the quarantine to quarantine.py, the rest are methods of the one class",
    "sync/daemon/service.py": "the SyncDaemon class: the daemon's one thread and the state it alone touches "
                              "(window, marks, lanes, heartbeat, disk); its connection is in "
                              "sync/runtime/connection.py, what is left is methods of the one class",
    "sync/protocol/commands.py": "every signed command's argument rules in one table-like module (the "
                                 "protocol's reference); splitting by action would scatter the checks",
    "drivers/ocr/idcard_face.py": "the ID card's face-side OCR: field geometry, recognition and checks on one "
                                  "card layout",
    "kiosk/gallery.py": "the gallery's scripted walk through every screen (issue 20 added the face and signing "
                        "screens); a dev-facing renderer, one journey script",
}

# Functions allowed worse than D ("path:qualified name"), and why.
COMPLEX_FUNCTIONS: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(p for root in PRODUCT for p in (ROOT / root).rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _functions(blocks: list[Function | Class]) -> list[Function]:
    out: list[Function] = []
    for block in blocks:
        if isinstance(block, Class):
            out.extend(block.methods)
        else:
            out.append(block)
    return out


@functools.cache
def _complexities() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in _modules():
        for f in _functions(cc_visit(path.read_text(encoding="utf-8"))):
            name = f"{_rel(path)}:{f.fullname}"
            found[name] = max(found.get(name, 0), f.complexity)
    return found


def test_product_modules_stay_under_500_lines() -> None:
    lengths = {_rel(p): len(p.read_text(encoding="utf-8").splitlines()) for p in _modules()}
    too_long = {path: n for path, n in lengths.items() if n > MAX_LINES and path not in LONG_MODULES}
    assert not too_long, (f"over {MAX_LINES} lines: {too_long}; split the module (one thing per module), or add "
                          "it to LONG_MODULES in tests/test_code_shape.py with the reason it stays")
    stale = [path for path in LONG_MODULES if lengths.get(path, 0) <= MAX_LINES]
    assert not stale, f"no longer over {MAX_LINES} lines (or gone): remove {stale} from LONG_MODULES"


@pytest.mark.slow  # radon parses every product module: a few seconds
def test_no_function_is_worse_than_radon_d() -> None:
    found = _complexities()
    too_complex = {name: f"{cc} ({cc_rank(cc)})" for name, cc in found.items()
                   if cc > MAX_COMPLEXITY and name not in COMPLEX_FUNCTIONS}
    assert not too_complex, (f"cyclomatic complexity over {MAX_COMPLEXITY} (radon E/F): {too_complex}; split the "
                             "function, or add it to COMPLEX_FUNCTIONS in tests/test_code_shape.py with the reason")
    stale = [name for name in COMPLEX_FUNCTIONS if found.get(name, 0) <= MAX_COMPLEXITY]
    assert not stale, f"no longer worse than D (or renamed): remove {stale} from COMPLEX_FUNCTIONS"


@pytest.mark.slow
def test_the_rules_see_what_they_check() -> None:
    """The walk finds the product's modules and radon scores them (a broken walk would pass everything)."""
    modules = {_rel(p) for p in _modules()}
    assert {"sync/runtime/connection.py", "central/web/app.py", "kiosk/cli.py"} <= modules
    assert len(modules) > 150
    found = _complexities()
    assert found["sync/runtime/connection.py:MqttConnection.step"] >= 4
