"""File modes under an ordinary umask (issue 13, item 13).

Under umask 022 the kiosk home was 0755 with ``outbox.db`` 0644, and the central's SQLite database 0644,
with names, ID numbers and phones in them. Homes are created 0700 and databases 0600 (with their -wal and
-shm files) whatever the umask; files and folders an older version left open to others are tightened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.cli import main as central_main
from central.store import CentralStore
from sync.device import resolve_home
from sync.outbox.store import Outbox
from tests.helpers import make_device


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _db_files(db: Path) -> list[Path]:
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]


def test_the_kiosk_home_is_created_0700(tmp_path: Path) -> None:
    home = resolve_home(tmp_path / "kiosk")
    assert mode(home) == 0o700


def test_a_kiosk_home_left_open_to_others_is_tightened(tmp_path: Path) -> None:
    old = tmp_path / "kiosk"
    old.mkdir(mode=0o755)
    os.chmod(old, 0o755)  # noqa: S103 - what an older version left
    assert mode(resolve_home(old)) == 0o750  # the group (the packaged 0750 kiosk group) is the operator's


def test_the_outbox_and_its_wal_are_0600(tmp_path: Path, central_keys: object) -> None:
    from central.keys import CentralKeys

    assert isinstance(central_keys, CentralKeys)
    home = resolve_home(tmp_path / "kiosk")
    device = make_device(home, "mqtt://127.0.0.1:1883", central_keys)
    outbox = Outbox(home / "outbox.db")
    try:
        outbox.enqueue_submission(device, "MZ-LNYD-001", [{"id": "name", "kind": "name", "value": "张三"}])
        files = _db_files(home / "outbox.db")
        assert {p.name for p in files} >= {"outbox.db", "outbox.db-wal", "outbox.db-shm"}
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        outbox.close()
    assert all(mode(p) == 0o600 for p in home.iterdir() if p.is_file() and p.name.startswith("outbox.db"))


def test_the_central_home_and_database_are_private(tmp_path: Path) -> None:
    home = tmp_path / "central"
    assert central_main(["init", "--home", str(home)]) == 0
    assert mode(home) == 0o700
    store = CentralStore(f"sqlite:///{home / 'central.db'}")
    try:
        assert store.count() == 0
        files = _db_files(home / "central.db")
        assert {p.name for p in files} >= {"central.db", "central.db-wal", "central.db-shm"}
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        store.close()


def test_a_database_an_older_version_left_0644_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    CentralStore(f"sqlite:///{db}").close()
    for p in _db_files(db):
        os.chmod(p, 0o644)
    store = CentralStore(f"sqlite:///{db}")
    try:
        store.count()
        assert {p.name: mode(p) for p in _db_files(db)} == {p.name: 0o600 for p in _db_files(db)}
    finally:
        store.close()


def test_fleet_commands_create_the_central_home_0700(tmp_path: Path) -> None:
    home = tmp_path / "central-fleet"
    assert central_main(["fleet", "--home", str(home), "--json"]) == 0
    assert mode(home) == 0o700
    assert mode(home / "central.db") == 0o600
