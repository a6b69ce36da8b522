"""Releases are signed by an offline release key the kiosk pins, never by the central's command key; a new key is
accepted only when the pinned one certified it; a version floor raised by a signed command stops rollbacks to
old releases (issue 17, findings 4 and 5). End to end through a real central, broker, daemon and executor."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.commands import send_command
from central.keys import CentralKeys
from central.web.server import DashboardServer
from sync.ota.trust import ReleaseTrust, TrustRefused
from sync.protocol.release import key_id, sign_release, sign_rotation
from tests import test_ota
from tests.test_ota import OLD, RELEASE_KEY, Kiosk, _send, release_archive, signed_update

central_home, http, kiosk = test_ota.central_home, test_ota.http, test_ota.kiosk  # the OTA tests' fixtures


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def test_a_release_signed_with_the_centrals_command_key_is_refused(
        kiosk: Kiosk, tmp_path: Path, central_home: Path, central_keys: CentralKeys, http: DashboardServer) -> None:
    # Whoever controls the central holds its command key: a release it signs must not install.
    args = signed_update(central_home, "2.0.0", release_archive(tmp_path / "n.tar.gz", "2.0.0"), base_url=http.url)
    args["signature"] = sign_release(central_keys.command_private_raw, "2.0.0", args["sha256"], args["size"])
    result = kiosk.result(_send(kiosk, central_keys, args))
    assert (result["reason"], result["stage"]) == ("refused", "verify") and "signature" in result["detail"]
    assert kiosk.releases.installed() == [OLD] and not kiosk.restarts.is_set()


def test_a_key_rotation_needs_the_pinned_keys_signature(
        kiosk: Kiosk, tmp_path: Path, central_home: Path, central_keys: CentralKeys, http: DashboardServer) -> None:
    trust = ReleaseTrust(kiosk.home)
    new_key, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    # A rotation certified by a stranger (e.g. the central's operator) changes nothing.
    forged = sign_rotation(stranger.private_bytes_raw(), _public(new_key))
    args = signed_update(central_home, "2.0.0", release_archive(tmp_path / "f.tar.gz", "2.0.0"), base_url=http.url,
                         key=new_key, rotation=forged)
    result = kiosk.result(_send(kiosk, central_keys, args))
    assert (result["reason"], result["stage"]) == ("refused", "verify")
    assert "not signed by the pinned" in result["detail"]
    assert trust.summary()["key_id"] == key_id(_public(RELEASE_KEY))

    # Certified by the pinned key: the new key is pinned and the release it signed installs.
    rotation = sign_rotation(RELEASE_KEY.private_bytes_raw(), _public(new_key))
    args = signed_update(central_home, "2.0.0", release_archive(tmp_path / "r.tar.gz", "2.0.0"), base_url=http.url,
                         key=new_key, rotation=rotation)
    command_id = _send(kiosk, central_keys, args)
    kiosk.reboot()
    assert kiosk.result(command_id)["ok"] is True
    assert trust.summary() == {"key_id": key_id(_public(new_key)), "floor": None, "rotations": 1}
    # The old key no longer signs releases for this kiosk.
    args = signed_update(central_home, "3.0.0", release_archive(tmp_path / "o.tar.gz", "3.0.0"), base_url=http.url)
    assert kiosk.result(_send(kiosk, central_keys, args))["reason"] == "refused"
    with pytest.raises(TrustRefused, match="already pinned"):
        trust.pin(_public(stranger))  # a second "first pin" cannot replace it either


def test_the_version_floor_refuses_older_releases_and_is_never_lowered(
        kiosk: Kiosk, tmp_path: Path, central_home: Path, central_keys: CentralKeys, http: DashboardServer) -> None:
    def floor(version: str) -> dict[str, Any]:
        sent = send_command(central_keys, kiosk.device.broker_url, kiosk.device.device_id, "release_floor",
                            {"version": version})
        return kiosk.result(sent.id)

    assert floor("1.0.0")["ok"] is True  # the running release
    # Before: 0.0.1 was accepted while a newer release ran.
    args = signed_update(central_home, "0.0.1", release_archive(tmp_path / "old.tar.gz", "0.0.1"), base_url=http.url)
    result = kiosk.result(_send(kiosk, central_keys, args))
    assert result["reason"] == "refused" and "below this kiosk's floor 1.0.0" in result["detail"]
    lowered = floor("0.5.0")
    assert (lowered["ok"], lowered["reason"]) == (False, "refused") and "never lowered" in lowered["detail"]
    assert ReleaseTrust(kiosk.home).floor() == "1.0.0" and kiosk.releases.installed() == [OLD]
    # At or above the floor still installs.
    args = signed_update(central_home, "1.1.0", release_archive(tmp_path / "new.tar.gz", "1.1.0"), base_url=http.url)
    command_id = _send(kiosk, central_keys, args)
    kiosk.reboot()
    assert kiosk.result(command_id)["ok"] is True


def test_a_kiosk_pins_the_installed_key_once_and_refuses_updates_without_one(tmp_path: Path) -> None:
    installed = tmp_path / "release-key.pub"
    trust = ReleaseTrust(tmp_path / "home", installed_key=installed)
    assert trust.key() is None  # nothing installed: every update is refused ("no release key pinned")
    installed.write_text(base64.b64encode(_public(RELEASE_KEY)).decode() + "\n", encoding="ascii")
    assert trust.key() == _public(RELEASE_KEY)
    installed.write_text(base64.b64encode(_public(Ed25519PrivateKey.generate())).decode(), encoding="ascii")
    assert trust.key() == _public(RELEASE_KEY)  # pinned: a file swapped later changes nothing
    (tmp_path / "home" / "release-trust.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(TrustRefused, match="cannot be read"):
        trust.key()  # a damaged pin is never silently replaced by whatever key is installed
