"""The colocated QML component tests (``kiosk/qml/**/tst_*.qml``), run by Qt Quick Test from pytest.

PySide6 ships no ``qmltestrunner`` binary, but its ``QtQuickTest`` module has ``QUICK_TEST_MAIN``: each
``tst_*.qml`` file runs in a child process (Qt Quick Test owns its windows and event loop) that writes a
JUnit report; a test here fails with each failing QML test function and its message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QML = ROOT / "kiosk" / "qml"
TST_FILES = sorted(QML.rglob("tst_*.qml"))
RUNNER = """
import sys
from PySide6.QtQuickTest import QUICK_TEST_MAIN
tst, report = sys.argv[1], sys.argv[2]
args = ["kiosk-qml", "-platform", "offscreen", "-input", tst, "-o", report + ",junitxml", "-o", "-,txt"]
sys.exit(QUICK_TEST_MAIN("kiosk-qml", args, str(__import__("pathlib").Path(tst).parent)))
"""
HOUSEKEEPING = ("initTestCase", "cleanupTestCase")


def run_qml_test(tst: Path, report: Path) -> tuple[int, list[tuple[str, str]], list[str], str]:
    """Run one tst_*.qml; return (exit code, failures [(test, message)], passed test names, output)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("QT_IM_MODULE", None)  # the components alone, without the virtual keyboard
    child = subprocess.run([sys.executable, "-c", RUNNER, str(tst), str(report)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    output = child.stdout + child.stderr
    if not report.exists():
        return child.returncode, [("(no report)", output[-2000:])], [], output
    failures, passed = [], []
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - written by our own child
        name = case.get("name", "")
        problems = [*case.iter("failure"), *case.iter("error")]
        if problems:
            failures.append((name, "; ".join(f"{p.get('message', '')} {p.text or ''}".strip() for p in problems)))
        elif not name.endswith(HOUSEKEEPING):
            passed.append(name)
    return child.returncode, failures, passed, output


def test_the_components_have_qml_tests() -> None:
    names = {p.name for p in TST_FILES}
    for component in ("BigButton", "KField", "ConnectionBadge", "IdleOverlay", "Theme"):
        assert f"tst_{component}.qml" in names


@pytest.mark.parametrize("tst", TST_FILES, ids=[p.stem for p in TST_FILES])
def test_qml(tst: Path, tmp_path: Path) -> None:
    code, failures, passed, output = run_qml_test(tst, tmp_path / "report.xml")
    assert not failures, "\n".join(f"{name}: {message}" for name, message in failures)
    assert code == 0, output[-3000:]
    assert passed, f"{tst.name} ran no test functions"
    # A broken binding in a component (e.g. an enum QML does not know) is only a warning: fail on it.
    warnings = [line for line in output.splitlines() if line.startswith("QWARN") and "kiosk/qml" in line]
    assert not warnings, "\n".join(warnings)


def test_the_runner_reports_a_failing_qml_test(tmp_path: Path) -> None:
    """A QML test that fails (and one that does not load) fails here: the runner cannot pass silently."""
    (tmp_path / "qmldir").write_text("")
    bad = tmp_path / "tst_Broken.qml"
    bad.write_text('import QtQuick\nimport QtTest\nTestCase { name: "Broken"\n'
                   '  function test_wrong() { compare(1 + 1, 3, "arithmetic") }\n'
                   '  function test_right() { compare(2, 2) } }\n', encoding="utf-8")
    code, failures, passed, _ = run_qml_test(bad, tmp_path / "report.xml")
    assert code != 0 and [n for n, _m in failures] == ["Broken::test_wrong"] and passed == ["Broken::test_right"]
    assert "arithmetic" in failures[0][1]
    broken = tmp_path / "tst_Unloadable.qml"
    broken.write_text('import QtQuick\nimport QtTest\nTestCase { name: "X"; function test_a() { } \n', encoding="utf-8")
    code, failures, passed, _ = run_qml_test(broken, tmp_path / "report2.xml")
    assert code != 0 and failures and not passed
