"""The code's rules of thumb, checked (issue 15): no product module over 500 lines, no function over 60 lines
(from its ``def`` to its last line), and no function scoring worse than D on radon's cyclomatic complexity
(E is 31-40, F 41 and more), except what is listed below with the reason it stays. An entry that no longer
needs its exception must leave the list, so the list only shrinks.

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
MAX_FUNCTION_LINES = 60  # from the ``def`` line to the function's last line

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
}

# Functions allowed worse than D ("path:qualified name"), and why.
COMPLEX_FUNCTIONS: dict[str, str] = {}

# Functions allowed over MAX_FUNCTION_LINES ("path:qualified name"), and why (shorten rather than add).
LONG_FUNCTIONS = {
    "kiosk/cli.py:_cmd_run": "starts the kiosk process: Qt app, drivers, outbox, view model and timers wired "
                             "in start-up order",
    "kiosk/cli.py:main": "the argparse tree of every kiosk subcommand",
    "kiosk/gallery.py:_journey": "the gallery's script: one resident's journey, a shot at each state, in order",
    "kiosk/gallery.py:_face": "the gallery's script for the face check's screens, in order",
    "sync/ota/manager.py:OtaManager._run_update": "an update's steps in order (room, download or USB file, "
                                                  "signature, the resident's session ending, the rollback "
                                                  "point, the switch), each refusal with its stage",
    "sync/daemon/service.py:SyncDaemon.__init__": "the daemon's state, set up in one place with its comments",
    "sync/daemon/service.py:SyncDaemon.run": "the daemon's one loop (retry request, connect, marks, pump, "
                                             "housekeeping, heartbeat) and its storage-error recovery",
    "central/importer.py:import_export": "one export through the ingest path: manifest, each line, the "
                                         "batches, then its audit record",
    "central/applications/listing.py:application_detail": "everything the detail page shows, read in one "
                                                          "session",
    "sync/protocol/commands.py:verify_command": "a command's checks in order (shape, key, signature, fields, "
                                                "target, lifetime, arguments): the protocol's reference",
    "central/cli/server.py:_cmd_serve": "starts the central in order (keys, store, dashboard, TLS, ingest "
                                        "workers and processes, retention) and stops it",
}


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
def _function_lengths() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in _modules():
        for f in _functions(cc_visit(path.read_text(encoding="utf-8"))):
            name = f"{_rel(path)}:{f.fullname}"
            found[name] = max(found.get(name, 0), f.endline - f.lineno + 1)
    return found


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


@pytest.mark.slow  # radon parses every product module
def test_no_function_is_over_60_lines() -> None:
    found = _function_lengths()
    too_long = {name: n for name, n in found.items() if n > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS}
    assert not too_long, (f"functions over {MAX_FUNCTION_LINES} lines: {too_long}; split the function, or add it "
                          "to LONG_FUNCTIONS in tests/test_code_shape.py with the reason it stays")
    stale = [name for name in LONG_FUNCTIONS if found.get(name, 0) <= MAX_FUNCTION_LINES]
    assert not stale, f"no longer over {MAX_FUNCTION_LINES} lines (or renamed): remove {stale} from LONG_FUNCTIONS"


@pytest.mark.slow
def test_the_rules_see_what_they_check() -> None:
    """The walk finds the product's modules and radon scores them (a broken walk would pass everything)."""
    modules = {_rel(p) for p in _modules()}
    assert {"sync/runtime/connection.py", "central/web/app.py", "kiosk/cli.py"} <= modules
    assert len(modules) > 150
    found = _complexities()
    assert found["sync/runtime/connection.py:MqttConnection.step"] >= 4
    assert _function_lengths()["sync/runtime/connection.py:MqttConnection.step"] > 1
