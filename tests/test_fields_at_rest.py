"""Personal data at rest at the central (issue 13 item 14): a submission's fields and an event's sealed part
are stored encrypted with data keys wrapped by a master key kept outside the database; masked views never
decrypt; the full view and the back-office hand-off do; the master key rotates (data keys re-wrapped, the old
key retired) on SQLite and on PostgreSQL; rows stored in clear before revision c0011 are encrypted by a
command, after which the SQLite file holds none of them."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select, text, update

from central import field_encryption as fe
from central.cli import main as central_main
from central.keys import CentralKeys
from central.messages import Incoming, parse
from central.models import DataKey, Event, Submission
from central.store import MIGRATIONS, CentralStore
from central.web import queries
from devtools.postgres import PrivatePostgres, find_pg_bin
from sync.device import DeviceConfig
from sync.outbox.store import Outbox
from sync.protocol import topics
from sync.runtime.sqlite import make_engine
from tests.helpers import TEST_KEYRING, track, upgrade_to

NAME, ID_NUMBER, PHONE, COMPLAINT_PHONE = "欧阳春花", "110101199003071234", "13912345678", "13700001111"
FIELDS = [{"id": "applicant_name", "kind": "name", "label": "申请人姓名", "value": NAME},
          {"id": "id_number", "kind": "id_number", "label": "身份证号", "value": ID_NUMBER},
          {"id": "phone", "kind": "phone", "label": "联系电话", "value": PHONE}]
SECRETS = (NAME, ID_NUMBER, PHONE, COMPLAINT_PHONE)


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:
        yield server


def _pg_database(pg: PrivatePostgres) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    return _pg_database(request.getfixturevalue("pg"))


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A master key file, and no master key in the environment (the test session sets one)."""
    monkeypatch.delenv(fe.ENV_KEYS, raising=False)
    monkeypatch.delenv(fe.ENV_FILE, raising=False)
    path = tmp_path / "keys" / "master.key"
    fe.KeySource(path=path).create()
    return path


def _items(keys: CentralKeys, device: DeviceConfig, outbox: Outbox, n: int = 1) -> list[Incoming]:
    for _ in range(n):
        outbox.enqueue_submission(device, "MZ-LNYD-001", FIELDS)
    outbox.enqueue_event(device, "complaint", {"level": 5}, private={"text": "排队太久", "phone": COMPLAINT_PHONE})
    return [parse(keys, topics.Topic(device.device_id, "up", m.kind), m.body, TEST_KEYRING)
            for m in outbox.pending_batch(100)]


def _store(url: str, key_file: Path | None) -> CentralStore:
    return track(CentralStore(url, master_keys=fe.KeySource(path=key_file)))


def _assert_no_clear(data: bytes, where: str) -> None:
    for secret in SECRETS:
        assert secret.encode("utf-8") not in data, f"{secret!r} in clear in {where}"
        assert secret.encode("utf-16-le") not in data, f"{secret!r} in clear (UTF-16) in {where}"


def _sqlite_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def _pg_dump(pg: PrivatePostgres, url: str) -> bytes:
    name = url.rsplit("/", 1)[1]
    out = subprocess.run([str(find_pg_bin() / "pg_dump"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                          name], capture_output=True, check=True)
    return out.stdout


# -- at rest ----------------------------------------------------------------------------------------------------


def test_database_dump_holds_no_name_id_number_or_phone(request: pytest.FixtureRequest, db_url: str, key_file: Path,
                                                         tmp_path: Path, central_keys: CentralKeys,
                                                         device: DeviceConfig, outbox: Outbox) -> None:
    store = _store(db_url, key_file)
    items = _items(central_keys, device, outbox, n=3)
    acks = store.apply(items)
    assert len(acks[device.device_id]) == 4 and store.count() == 3
    listed = store.list_masked()
    assert {f["value"] for f in listed[0]["fields"]} == {"欧***", "110101********1234", "139****5678"}
    full = queries.submission_full(store, listed[0]["id"])
    assert full is not None and full["fields"] == FIELDS  # the audited full view opens them
    with store.session() as s:
        complaint = s.scalars(select(Event).where(Event.type == "complaint")).one()
        assert store.fields.event_private(complaint) == {"text": "排队太久", "phone": COMPLAINT_PHONE}
    store.close()
    if db_url.startswith("sqlite"):
        _assert_no_clear(_sqlite_bytes(tmp_path / "central.db"), "the SQLite file")
    else:
        dump = _pg_dump(request.getfixturevalue("pg"), db_url)
        assert b"COPY public.submissions" in dump and b"110101********1234" in dump  # the dump has the rows
        _assert_no_clear(dump, "pg_dump")


def test_masked_listing_works_without_the_master_key(tmp_path: Path, key_file: Path, central_keys: CentralKeys,
                                                     device: DeviceConfig, outbox: Outbox) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    writer = _store(url, key_file)
    writer.apply(_items(central_keys, device, outbox))
    writer.close()
    key_file.unlink()  # the key is gone: nothing may need it to list
    reader = _store(url, None)
    [row] = reader.list_masked()
    assert [f["value"] for f in row["fields"]] == ["欧***", "110101********1234", "139****5678"]
    assert [f["label"] for f in row["fields"]] == ["申请人姓名", "身份证号", "联系电话"]
    assert reader.fields._keys is None  # never loaded
    with pytest.raises(fe.MasterKeyMissing):
        queries.submission_full(reader, row["id"])
    # the command line's listing too
    assert central_main(["submissions", "--db", url, "--json", "--home", str(tmp_path / "home")]) == 0


def test_a_ciphertext_opens_only_on_its_own_record(tmp_path: Path, key_file: Path, central_keys: CentralKeys,
                                                   device: DeviceConfig, outbox: Outbox) -> None:
    store = _store(f"sqlite:///{tmp_path / 'central.db'}", key_file)
    store.apply(_items(central_keys, device, outbox, n=2))
    with store.session() as s, s.begin():
        a, b = s.scalars(select(Submission).order_by(Submission.seq)).all()
        sealed_b = b.fields_sealed
        s.execute(update(Submission).where(Submission.id == a.id).values(fields_sealed=sealed_b))
    with pytest.raises(fe.FieldKeyError, match="another record or was altered"):
        queries.submission_full(store, a.id)
    assert queries.submission_full(store, b.id) is not None


def test_a_wrong_master_key_opens_nothing(tmp_path: Path, key_file: Path, central_keys: CentralKeys,
                                          device: DeviceConfig, outbox: Outbox) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    store = _store(url, key_file)
    store.apply(_items(central_keys, device, outbox))
    sub_id = store.list_masked()[0]["id"]
    other = tmp_path / "other.key"
    fe.KeySource(path=other).create()
    with pytest.raises(fe.FieldKeyError, match="does not hold"):
        queries.submission_full(_store(url, other), sub_id)


# -- rotation ---------------------------------------------------------------------------------------------------


def test_rotation_rewraps_the_data_keys_and_retires_the_old_master_key(
        db_url: str, key_file: Path, tmp_path: Path, central_keys: CentralKeys, device: DeviceConfig,
        outbox: Outbox) -> None:
    running = _store(db_url, key_file)  # a central that keeps running through the rotation
    running.fields.ready(now=86400.0 * 3)  # a data key of an earlier day ...
    running.apply(_items(central_keys, device, outbox, n=2))  # ... and today's
    old_text = key_file.read_text()
    old_id = fe.MasterKeys.parse(old_text, "old").active_id
    with running.session() as s:
        before = {r.id: (r.fields_key, r.fields_sealed) for r in s.scalars(select(Submission))}
        wrapped_before = {d.id: d.wrapped for d in s.scalars(select(DataKey))}
    assert len(wrapped_before) == 2 and set(fe.data_key_counts(running.engine)) == {old_id}

    rc = central_main(["datakey", "rotate", "--db", db_url, "--master-key", str(key_file), "--json",
                       "--home", str(tmp_path / "home")])
    assert rc == 0
    new_keys = fe.KeySource(path=key_file).load()
    assert len(new_keys.keys) == 1 and new_keys.active_id != old_id  # the old key is retired from the file
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert fe.data_key_counts(running.engine) == {new_keys.active_id: 2}
    with running.session() as s:
        after = {r.id: (r.fields_key, r.fields_sealed) for r in s.scalars(select(Submission))}
        wrapped_after = {d.id: d.wrapped for d in s.scalars(select(DataKey))}
    assert after == before  # the records were not re-encrypted
    assert wrapped_after.keys() == wrapped_before.keys()
    assert all(wrapped_after[k] != wrapped_before[k] for k in wrapped_after)

    fresh = _store(db_url, key_file)
    for sub_id in after:
        full = queries.submission_full(fresh, sub_id)
        assert full is not None and full["fields"] == FIELDS
    old_only = tmp_path / "old.key"
    old_only.write_text(old_text)
    with pytest.raises(fe.FieldKeyError, match="does not hold"):
        queries.submission_full(_store(db_url, old_only), next(iter(after)))
    # The running central reads the new key when it makes its next data key: wrapped by the new key.
    running.fields.ready(now=86400.0 * 1000)
    assert fe.data_key_counts(running.engine) == {new_keys.active_id: 3}
    report = fe.rotate(running.engine, fe.KeySource(path=key_file))  # again: rotation repeats
    assert report["rewrapped"] == 3 and report["retired"] == [new_keys.active_id]


def test_an_interrupted_rotation_is_finished_by_rewrap(tmp_path: Path, key_file: Path, central_keys: CentralKeys,
                                                       device: DeviceConfig, outbox: Outbox) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    store = _store(url, key_file)
    store.apply(_items(central_keys, device, outbox))
    old = fe.KeySource(path=key_file).load()
    # The rotation stopped after writing the new key ring (new key first, old kept): nothing is lost.
    ring = fe.MasterKeys((fe.new_master_key(), old.active), str(key_file), key_file)
    key_file.write_text(ring.text())
    sub_id = store.list_masked()[0]["id"]
    assert queries.submission_full(_store(url, key_file), sub_id) is not None
    with pytest.raises(fe.FieldKeyError, match="still wrap data keys"):
        fe.retire(store.engine, fe.KeySource(path=key_file))
    home = tmp_path / "home"
    assert central_main(["datakey", "rewrap", "--retire", "--db", url, "--master-key", str(key_file),
                         "--home", str(home)]) == 0
    assert fe.KeySource(path=key_file).load().ids == [ring.active_id]
    assert fe.data_key_counts(store.engine) == {ring.active_id: 1}
    assert queries.submission_full(_store(url, key_file), sub_id) is not None


# -- rows from before c0011 -------------------------------------------------------------------------------------


def _central_at(url: str, revision: str) -> None:
    upgrade_to(make_engine(url), MIGRATIONS, revision)


def test_rows_stored_in_clear_before_c0011_are_encrypted_by_a_command(
        request: pytest.FixtureRequest, db_url: str, key_file: Path, tmp_path: Path) -> None:
    _central_at(db_url, "c0010")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(text("INSERT INTO submissions (id, device_id, seq, service_code, receipt_no, created_at,"
                              " received_at, fields_json, attachments_expected, complete) VALUES (:id, 'k-old', :seq,"
                              " 'MZ-LNYD-001', :r, 1.0, 2.0, :f, 0, true)"),
                         {"id": f"old-{i}", "seq": i + 1, "r": f"R-{i}", "f": json.dumps(FIELDS, ensure_ascii=False)})
        conn.execute(text("INSERT INTO events (id, device_id, seq, type, created_at, received_at, meta_json,"
                          " private_json) VALUES ('ev-old', 'k-old', 9, 'complaint', 1.0, 2.0, '{}', :p)"),
                     {"p": json.dumps({"phone": COMPLAINT_PHONE})})
    engine.dispose()
    store = _store(db_url, None)  # migrates to c0011 without any master key
    assert fe.clear_rows(store.engine) == {"submissions": 3, "events": 1}
    listed = {r["id"]: r for r in store.list_masked()}
    assert [f["value"] for f in listed["old-0"]["fields"]] == ["欧***", "110101********1234", "139****5678"]
    store.close()

    home = tmp_path / "home"
    assert central_main(["datakey", "encrypt-existing", "--db", db_url, "--master-key", str(key_file),
                         "--home", str(home)]) == 0
    store = _store(db_url, key_file)
    assert fe.clear_rows(store.engine) == {"submissions": 0, "events": 0}
    full = queries.submission_full(store, "old-1")
    assert full is not None and full["fields"] == FIELDS
    with store.session() as s:
        assert store.fields.event_private(s.get_one(Event, "ev-old")) == {"phone": COMPLAINT_PHONE}
    store.close()
    if db_url.startswith("sqlite"):
        db = tmp_path / "central.db"
        _assert_no_clear(_sqlite_bytes(db), "the SQLite file after encrypt-existing")
    else:
        _assert_no_clear(_pg_dump(request.getfixturevalue("pg"), db_url), "pg_dump after encrypt-existing")


# -- keys on the command line -----------------------------------------------------------------------------------


def test_datakey_init_status_and_serve_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(fe.ENV_KEYS, raising=False)
    monkeypatch.delenv(fe.ENV_FILE, raising=False)
    home = tmp_path / "home"
    os.umask(0o022)
    assert central_main(["datakey", "init", "--home", str(home)]) == 0
    key = home / fe.MASTER_KEY_FILE
    assert oct(key.stat().st_mode & 0o777) == "0o600" and len(base64.b64decode(key.read_text())) == 32
    assert central_main(["datakey", "init", "--home", str(home)]) == 2  # never replaces a key
    assert "refusing to replace" in capsys.readouterr().err
    assert central_main(["datakey", "status", "--home", str(home), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["active"] == fe.key_id(base64.b64decode(key.read_text()))
    assert status["clear_rows"] == {"submissions": 0, "events": 0} and status["data_keys"] == {}
    # The key may come from the environment instead; the database never holds it.
    store = track(CentralStore(f"sqlite:///{home / 'central.db'}", master_keys=fe.KeySource.resolve(home)))
    store.fields.ready()
    store.close()
    con = sqlite3.connect(home / "central.db")
    assert key.read_text().strip().encode() not in b"".join(
        bytes(r[0]) for r in con.execute("SELECT wrapped FROM data_keys"))
    con.close()
    # A central whose data keys exist but whose master key is missing refuses to start, and says why.
    key.rename(tmp_path / "elsewhere.key")
    CentralKeys.generate().save(home)
    assert central_main(["serve", "--home", str(home), "--broker", "mqtt://127.0.0.1:1"]) == 2
    assert "master key" in capsys.readouterr().err
    monkeypatch.setenv(fe.ENV_KEYS, (tmp_path / "elsewhere.key").read_text().strip())
    assert central_main(["datakey", "status", "--home", str(home), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == f"${fe.ENV_KEYS}"


def test_serve_makes_the_master_key_on_first_use_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from central import cli

    monkeypatch.delenv(fe.ENV_KEYS, raising=False)
    monkeypatch.delenv(fe.ENV_FILE, raising=False)
    home = tmp_path / "home"
    store = track(CentralStore(f"sqlite:///{tmp_path / 'central.db'}", master_keys=fe.KeySource.resolve(home)))
    assert cli._master_key_ready(store, "serve", create=True)  # a new central: the key is made in its home
    key = home / fe.MASTER_KEY_FILE
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    store.fields.ready()
    key.unlink()  # data keys exist now: a missing key is an error, never a new key
    assert not cli._master_key_ready(store, "serve", create=True)
    assert not key.exists()
