"""One pin set (issue 17, finding 3): the tests run on exactly the versions the bundle is built from.

``packaging/requirements.lock`` (pip-tools, exact versions, every file's hash) is what scripts/setup.sh installs
and what packaging/build installs or checks; this test fails when the venv under test drifts from it (before:
the test venv had opencv 5.1.0.95, httpx 0.29.0, uvicorn 0.55.0 against pins of 5.0.0.93, 0.28.1, 0.54.0, and
PyNaCl was not pinned at all).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "packaging" / "requirements.lock"
CHECK = ROOT / "packaging" / "check-lock"


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    out: dict[str, tuple[str, int]] = {}
    name = ""
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if pin:
            name = normal(pin.group(1))
            out[name] = (pin.group(2), 0)
        elif "--hash=sha256:" in line and name:
            out[name] = (out[name][0], out[name][1] + 1)
    return out


def test_the_venv_under_test_is_exactly_the_lock() -> None:
    out = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_venv_that_drifted_is_caught(tmp_path: Path) -> None:
    drifted = tmp_path / "requirements.lock"
    version = locked()["opencv-python-headless"][0]
    drifted.write_text(LOCK.read_text(encoding="utf-8").replace(f"opencv-python-headless=={version}",
                                                                "opencv-python-headless==5.0.0.93"), encoding="utf-8")
    out = subprocess.run([sys.executable, str(CHECK), "--lock", str(drifted)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "opencv-python-headless: locked 5.0.0.93" in out.stdout


def test_every_dependency_is_pinned_with_hashes() -> None:
    pins = locked()
    assert all(hashes >= 1 for _version, hashes in pins.values()), [n for n, (_v, h) in pins.items() if not h]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]
    for req in wanted:
        assert normal(req.name) in pins, f"{req.name} is not in the lock (run packaging/lock)"
        assert req.specifier.contains(pins[normal(req.name)][0], prereleases=True), f"{req} vs the lock"
    assert "pynacl" in pins and "httpx" in pins and "uvicorn" in pins


def test_setup_and_the_bundle_build_install_from_the_lock() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    build = (ROOT / "packaging" / "build").read_text(encoding="utf-8")
    for script in (setup, build):
        assert "--require-hashes --no-deps -r packaging/requirements.lock" in script
        assert "packaging/check-lock" in script
    assert "pip install -q -e '.[dev]'" not in setup  # no unpinned resolution any more
    assert not (ROOT / "packaging" / "constraints.txt").exists()
