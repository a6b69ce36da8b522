"""``kiosk-central enroll`` checks what it is given before it issues a token (issue 13, item 12).

Device ids follow the kiosk's own rule (sync.protocol.topics.check_device_id, which the kiosk applies to the
token and every topic), sites the length the central stores and commands accept, broker URLs the form the
kiosk reads. Each mistake is a clear message and exit 2; nothing is stored. A device id that already has a
token is refused the same way, never with a database traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from central.cli import main as central_main
from central.enrolment import list_tokens
from central.keys import CentralKeys
from central.store import CentralStore


@pytest.fixture
def home(tmp_path: Path) -> Path:
    CentralKeys.generate().save(tmp_path / "central")
    return tmp_path / "central"


def _enroll(home: Path, *extra: str) -> int:
    return central_main(["enroll", "--home", str(home), "--db", f"sqlite:///{home / 'central.db'}", *extra])


def _tokens(home: Path) -> list[dict[str, object]]:
    store = CentralStore(f"sqlite:///{home / 'central.db'}")
    try:
        return list_tokens(store)
    finally:
        store.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--device-id", "evil<script>"], "device id"),
    (["--device-id", "evil/+#x"], "device id"),
    (["--device-id", "_starts-with-underscore"], "device id"),
    (["--device-id", "x" * 65], "device id"),
    (["--device-id", ""], "device id"),
    (["--site", "街" * 5000], "site"),
    (["--site", "朝阳门\n街道"], "site"),
    (["--site", "  "], "site"),
    (["--broker", "http://example.org"], "broker"),
    (["--broker", "mqtt://host:99999"], "broker"),
    (["--enrol-url", "ftp://x"], "enrol"),
    (["--ttl", "-5"], "ttl"),
    (["--ttl", "nan"], "ttl"),
])
def test_enroll_refuses_bad_input_with_a_clear_message_and_stores_nothing(
        home: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    base = {"--site": "朝阳门街道", "--broker": "mqtt://127.0.0.1:1883"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [x for kv in base.items() for x in kv]
    assert _enroll(home, *argv) == 2
    err = capsys.readouterr().err
    assert message in err.lower() and "Traceback" not in err
    assert _tokens(home) == []


def test_enroll_a_duplicate_device_id_is_a_clear_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--site", "朝阳门街道", "--broker", "mqtt://127.0.0.1:1883", "--device-id", "kiosk-0001"]
    assert _enroll(home, *argv) == 0
    capsys.readouterr()
    assert _enroll(home, *argv) == 2
    err = capsys.readouterr().err
    assert "kiosk-0001" in err and "already" in err and "IntegrityError" not in err
    assert len(_tokens(home)) == 1


def test_enroll_accepts_good_input(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _enroll(home, "--site", "街" * 128, "--broker", "mqtt://127.0.0.1:1883", "--device-id",
                   "Kiosk_01-a") == 0
    assert capsys.readouterr().out.startswith("KIOSKPROV1:")
    assert [t["device_id"] for t in _tokens(home)] == ["Kiosk_01-a"]


def test_enroll_refuses_a_device_id_whose_receipt_code_another_kiosk_has(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Receipt numbers carry four characters of the device id (sync.protocol.ids.device_short): two kiosks
    ending alike would hand out the same numbers (issue 13, item 3), so enrolment keeps them apart."""
    base = ["--site", "朝阳门街道", "--broker", "mqtt://127.0.0.1:1883"]
    assert _enroll(home, *base, "--device-id", "east-0001") == 0
    capsys.readouterr()
    assert _enroll(home, *base, "--device-id", "west-0001") == 2
    err = capsys.readouterr().err
    assert "0001" in err and "east-0001" in err and "Traceback" not in err
    assert [t["device_id"] for t in _tokens(home)] == ["east-0001"]
    assert _enroll(home, *base, "--device-id", "west-0002") == 0


def test_generated_device_ids_never_share_a_receipt_code(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sync.protocol.ids import device_short
    for _ in range(300):
        assert _enroll(home, "--site", "朝阳门街道", "--broker", "mqtt://127.0.0.1:1883") == 0
    capsys.readouterr()
    ids = [str(t["device_id"]) for t in _tokens(home)]
    assert len(ids) == 300 and len({device_short(i) for i in ids}) == 300
