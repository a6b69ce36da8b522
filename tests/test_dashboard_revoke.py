"""The dashboard's revoke button (admins only): confirmation first, CSRF, audit, and the same effect as
``kiosk-central revoke`` — device revoked, its certificates on the CRL (and the broker's copy), the ingest
refusing it. Over HTTP with the real app and a real SQLite store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from central.ca import FleetCA, new_key
from central.cert_service import RevokedDevices
from central.keys import CentralKeys
from central.models import DeviceCertificate
from central.store import CentralStore
from central.web import auth
from central.web.app import create_app
from sync.protocol.enrolment import make_csr
from tests.test_dashboard import _add_operators, _csrf, _login
from tests.test_fleet import Kiosk


@pytest.fixture
def dash(tmp_path: Path, central_keys: CentralKeys) -> Iterator[tuple[TestClient, CentralStore, Path]]:
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    crl_copy = tmp_path / "broker" / "crl.pem"
    crl_copy.parent.mkdir()
    app = create_app(store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32, crl_copy=crl_copy)
    with TestClient(app) as c:
        yield c, store, crl_copy
    store.close()


def _certificate(store: CentralStore, home: Path, device_id: str) -> str:
    """A certificate the fleet CA issued to ``device_id`` and recorded, as enrolment does; its serial."""
    issued = FleetCA.open(home).sign_device_csr(make_csr(new_key(), device_id), device_id)
    with store.session() as s, s.begin():
        s.add(DeviceCertificate(serial=issued.serial, device_id=device_id, not_before=issued.not_before,
                                not_after=issued.not_after, issued_at=issued.not_before, public_key_sha256="x",
                                token_id=None, cert_pem=issued.cert_pem.decode(), revoked_at=None))
    return issued.serial


def _crl_serials(path: Path) -> set[str]:
    return {format(r.serial_number, "x") for r in x509.load_pem_x509_crl(path.read_bytes())}


def test_admin_revokes_a_kiosk_after_confirming(dash: tuple[TestClient, CentralStore, Path], tmp_path: Path,
                                               central_keys: CentralKeys) -> None:
    c, store, crl_copy = dash
    Kiosk(store, central_keys, "k-stolen").status("online", 1)
    serial = _certificate(store, tmp_path, "k-stolen")
    token = _login(c, "admin")
    page = c.get("/devices/k-stolen")
    assert 'id="cmd-revoke"' in page.text and 'id="revoked-note"' not in page.text
    # First the question, nothing revoked yet.
    ask = c.post("/devices/k-stolen/revoke", data={"reason": "机器被盗", "csrf": token})
    assert ask.status_code == 200 and 'id="confirm-yes"' in ask.text and "k-stolen" in ask.text
    assert "k-stolen" not in RevokedDevices(store, refresh_s=0)
    assert auth.audit_entries(store, action="revoke") == []
    # Confirmed: revoked, on the CRL and the broker's copy, audited, shown.
    done = c.post("/devices/k-stolen/revoke", data={"reason": "机器被盗", "confirmed": "1", "csrf": _csrf(ask.text)},
                  follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/devices/k-stolen"
    assert "k-stolen" in RevokedDevices(store, refresh_s=0)
    assert int(serial, 16) and serial.lower().lstrip("0") in _crl_serials(crl_copy)
    assert _crl_serials(crl_copy) == _crl_serials(tmp_path / "ca" / "crl.pem")
    [entry] = auth.audit_entries(store, action="revoke", target="k-stolen")
    assert entry["actor"] == "admin" and entry["detail"]["reason"] == "机器被盗"
    assert entry["detail"]["certificates"] == 1 and entry["detail"]["dropped"] is False  # plain mqtt:// here
    after = c.get("/devices/k-stolen").text
    assert 'id="revoked-note"' in after and 'id="cmd-revoke"' not in after
    assert re.search(r"k-stolen.{0,20}(已吊销|revoked)", after)


def test_revoke_refused_without_admin_csrf_or_known_device(dash: tuple[TestClient, CentralStore, Path],
                                                           central_keys: CentralKeys) -> None:
    c, store, _ = dash
    Kiosk(store, central_keys, "k-keep").status("online", 1)
    token = _login(c, "wang")  # an operator, not an admin
    assert 'id="cmd-revoke"' not in c.get("/devices/k-keep").text
    assert c.post("/devices/k-keep/revoke", data={"confirmed": "1", "csrf": token}).status_code == 403
    c.post("/logout", data={"csrf": token})
    token = _login(c, "admin")
    assert c.post("/devices/k-keep/revoke", data={"confirmed": "1"}).status_code == 403  # no CSRF token
    assert c.post("/devices/k-nobody/revoke", data={"confirmed": "1", "csrf": token}).status_code == 404
    assert "k-keep" not in RevokedDevices(store, refresh_s=0)
    assert auth.audit_entries(store, action="revoke") == []
