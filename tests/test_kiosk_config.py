"""The kiosk's settings: validated, all-or-nothing, written atomically with tight permissions, audited."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sync.device import OUTBOX_FILE, DeviceConfig
from sync.kiosk_config import ConfigError, apply_updates, load_config
from sync.outbox.store import Outbox

BIN = Path(sys.executable).parent


def test_defaults_then_valid_updates(tmp_path: Path) -> None:
    assert load_config(tmp_path)["idle_timeout_s"] == 60
    version, config = apply_updates(tmp_path, {"idle_timeout_s": "90", "elder_mode_default": "true",
                                               "site_display_name": "朝阳门街道便民服务中心"})
    assert version == 1
    assert config["idle_timeout_s"] == 90 and config["elder_mode_default"] is True
    assert load_config(tmp_path) == config
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("updates", [{"idle_timeout_s": 5}, {"idle_timeout_s": "abc"}, {"nope": 1},
                                     {"language_default": "fr"}, {"elder_mode_default": "maybe"},
                                     {"site_display_name": "x" * 65}])
def test_bad_updates_change_nothing(tmp_path: Path, updates: dict[str, object]) -> None:
    apply_updates(tmp_path, {"idle_timeout_s": 120})
    before = (tmp_path / "config.json").read_bytes()
    with pytest.raises(ConfigError):
        apply_updates(tmp_path, {"heartbeat_interval_s": 10, **updates})
    assert (tmp_path / "config.json").read_bytes() == before


def test_an_empty_change_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to change"):
        apply_updates(tmp_path, {})


def test_damaged_file_falls_back_to_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"settings": {"idle_timeout_s": 99999, "language_default": "en"')
    assert load_config(tmp_path)["idle_timeout_s"] == 60
    (tmp_path / "config.json").write_text('{"settings": {"idle_timeout_s": 99999, "language_default": "en"}}')
    config = load_config(tmp_path)
    assert config["idle_timeout_s"] == 60 and config["language_default"] == "en"


def test_cli_set_is_audited_at_the_central(kiosk_home: Path, device: DeviceConfig) -> None:
    done = subprocess.run([str(BIN / "kiosk"), "config", "set", "idle_timeout_s=45", "--home", str(kiosk_home)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = subprocess.run([str(BIN / "kiosk"), "config", "get", "idle_timeout_s", "--json", "--home",
                          str(kiosk_home)], capture_output=True, text=True, check=True)
    assert json.loads(got.stdout) == {"idle_timeout_s": 45}
    ob = Outbox(kiosk_home / OUTBOX_FILE)
    [event] = ob.pending_batch(10)
    meta = json.loads(event.body)["meta"]
    assert meta == {"type": "config_changed", "keys": ["idle_timeout_s"], "source": "technician",
                    "config_version": 1}
    ob.close()
    bad = subprocess.run([str(BIN / "kiosk"), "config", "set", "idle_timeout_s=1", "--home", str(kiosk_home)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "nothing changed" in bad.stderr
