"""Dashboard sessions live on the server (issue 13 item 9): a copied cookie is refused after logout, a password
change, a role change and disabling the account; idle and absolute timeouts; Secure cookies and HSTS behind TLS;
logins throttled per client address (never a lock-out of the account); no typed password in the audit log.

Against a real uvicorn server over HTTP (httpx), one test in real Chromium, one on a real PostgreSQL."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import itsdangerous
import psycopg
import pytest
from sqlalchemy import select

from central.cli import main as central_main
from central.fleet_models import DashboardSession
from central.store import CentralStore
from central.web import auth
from central.web.app import COOKIE, SECURE_COOKIE
from central.web.server import DashboardServer, serve
from devtools.postgres import PrivatePostgres
from tests.test_dashboard import PASSWORDS, _add_operators, _browser_login, _csrf, _wait, browser  # noqa: F401

T0 = 1_800_000_000.0
SECRET = "session-signing-secret-" + "x" * 16


class Clock:
    """The app's clock, moved by the test (no sleeping through a 30-minute timeout)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'central.db'}"


def _serve(store: CentralStore, home: Path, clock: Clock, **options: Any) -> DashboardServer:
    return serve(store, "127.0.0.1", 0, keys_home=home, broker_url="mqtt://127.0.0.1:1",
                 session_secret=SECRET, evaluate_every_s=None, clock=clock, **options)


@pytest.fixture
def dash(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[tuple[DashboardServer, CentralStore]]:
    store = CentralStore(db_url)
    _add_operators(store)
    server = _serve(store, tmp_path, clock)
    yield server, store
    server.stop()
    store.close()


def _client(server: DashboardServer, address: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=address),
                        follow_redirects=True, timeout=20)


def _login(c: httpx.Client, user: str, password: str | None = None) -> httpx.Response:
    token = _csrf(c.get("/login").text)
    return c.post("/login", data={"username": user, "password": PASSWORDS[user] if password is None else password,
                                  "csrf": token, "next": "/"})


def _logged_in(server: DashboardServer, user: str) -> tuple[httpx.Client, str, str]:
    """A client logged in as ``user``, its CSRF token and a copy of its session cookie."""
    c = _client(server)
    r = _login(c, user)
    assert r.status_code == 200 and r.url.path == "/", r.text
    return c, _csrf(r.text), c.cookies[COOKIE]


def _with_cookie(server: DashboardServer, cookie: str, path: str = "/api/session",
                 name: str = COOKIE) -> httpx.Response:
    """A request from someone else who copied the cookie (their own client, nothing else of the session)."""
    return httpx.get(server.url + path, headers={"Cookie": f"{name}={cookie}"}, follow_redirects=False)


def _cli(db_url: str, *args: str, password: str | None = None, tmp_path: Path) -> int:
    argv = ["operator", *args, "--db", db_url]
    if password is not None:
        pw = tmp_path / f"pw-{uuid.uuid4().hex[:6]}"
        pw.write_text(password + "\n", encoding="utf-8")
        argv += ["--password-file", str(pw)]
    return central_main(argv)


# -- the four ends of a session ----------------------------------------------------------------------------


def test_copied_cookie_is_refused_after_logout_on_every_session_of_the_user(
        dash: tuple[DashboardServer, CentralStore]) -> None:
    server, _store = dash
    victim, token, stolen = _logged_in(server, "admin")
    other, _, elsewhere = _logged_in(server, "admin")  # the same admin on a second browser
    _, _, wangs = _logged_in(server, "wang")
    assert _with_cookie(server, stolen).json()["user"] == "admin"
    assert victim.post("/logout", data={"csrf": token}).url.path == "/login"
    assert _with_cookie(server, stolen).status_code == 401
    assert _with_cookie(server, stolen, "/audit").status_code == 303  # pages send it to the login form
    assert _with_cookie(server, elsewhere).status_code == 401  # logout ends all of the user's sessions
    assert _with_cookie(server, wangs).json()["user"] == "wang"  # ... and nobody else's
    assert victim.get("/api/session").status_code == 401
    other.close()


def test_a_signed_cookie_naming_a_user_opens_nothing(dash: tuple[DashboardServer, CentralStore]) -> None:
    """The cookie of the old kind held the user name, signed: valid for as long as the signing key lived."""
    server, _store = dash
    data = base64.b64encode(json.dumps({"user": "admin", "csrf": "c" * 43}).encode())
    forged = itsdangerous.TimestampSigner(SECRET).sign(data).decode()
    assert _with_cookie(server, forged).status_code == 401
    assert _with_cookie(server, forged, "/audit").status_code == 303


def test_copied_cookie_is_refused_after_a_password_change_in_the_dashboard(
        dash: tuple[DashboardServer, CentralStore]) -> None:
    server, store = dash
    c, token, stolen = _logged_in(server, "wang")
    _, _, elsewhere = _logged_in(server, "wang")
    page = c.get("/account/password")
    assert page.status_code == 200 and 'id="password-form"' in page.text
    wrong = c.post("/account/password", data={"csrf": token, "current": "not-it-at-all", "new": "new-secret-22",
                                              "again": "new-secret-22"})
    assert wrong.status_code == 400 and 'id="password-error"' in wrong.text
    assert _with_cookie(server, stolen).status_code == 200  # nothing changed yet
    short = c.post("/account/password", data={"csrf": token, "current": PASSWORDS["wang"], "new": "short",
                                              "again": "short"})
    assert short.status_code == 400
    done = c.post("/account/password", data={"csrf": token, "current": PASSWORDS["wang"], "new": "new-secret-22",
                                             "again": "new-secret-22"})
    assert done.status_code == 200 and done.url.path == "/login" and 'id="flash"' in done.text
    for cookie in (stolen, elsewhere):
        assert _with_cookie(server, cookie).status_code == 401
    assert _login(_client(server), "wang").status_code == 401  # the old password is gone
    assert _login(_client(server), "wang", "new-secret-22").url.path == "/"
    actions = [e["action"] for e in auth.audit_entries(store, target="wang")]
    assert actions.count("password_change") == 1 and actions.count("password_change_failed") == 1
    assert "new-secret-22" not in json.dumps(auth.audit_entries(store))


def test_copied_cookie_is_refused_after_a_password_or_role_change_by_the_cli(
        dash: tuple[DashboardServer, CentralStore], db_url: str, tmp_path: Path) -> None:
    server, _store = dash
    _, _, admin = _logged_in(server, "admin")
    assert _cli(db_url, "role", "admin", "viewer", tmp_path=tmp_path) == 0
    assert _with_cookie(server, admin).status_code == 401  # not a viewer session now: no session at all
    c = _client(server)
    assert _login(c, "admin").url.path == "/"
    assert c.get("/api/session").json()["role"] == "viewer"

    # `operator add --replace` sets password and role together; it also ends the sessions.
    _, _, wang = _logged_in(server, "wang")
    assert _cli(db_url, "add", "wang", "--role", "operator", "--replace", password=PASSWORDS["wang"],
                tmp_path=tmp_path) == 0
    assert _with_cookie(server, wang).status_code == 401
    _, _, wang = _logged_in(server, "wang")
    assert _cli(db_url, "password", "wang", password="another-secret-3", tmp_path=tmp_path) == 0
    assert _with_cookie(server, wang).status_code == 401
    # And an administrator can end someone's sessions without changing anything else.
    _, _, li = _logged_in(server, "li")
    assert _cli(db_url, "logout", "li", tmp_path=tmp_path) == 0
    assert _with_cookie(server, li).status_code == 401
    assert _cli(db_url, "role", "nobody", "viewer", tmp_path=tmp_path) == 2


def test_copied_cookie_stays_refused_after_the_account_is_disabled_and_enabled_again(
        dash: tuple[DashboardServer, CentralStore], db_url: str, tmp_path: Path) -> None:
    server, _store = dash
    _, _, stolen = _logged_in(server, "wang")
    assert _cli(db_url, "disable", "wang", tmp_path=tmp_path) == 0
    assert _with_cookie(server, stolen).status_code == 401
    assert _cli(db_url, "enable", "wang", tmp_path=tmp_path) == 0
    assert _with_cookie(server, stolen).status_code == 401  # ended, not suspended
    assert _login(_client(server), "wang").url.path == "/"


def test_a_live_stream_ends_with_its_session(dash: tuple[DashboardServer, CentralStore]) -> None:
    server, _store = dash
    c, token, stolen = _logged_in(server, "li")
    with httpx.stream("GET", server.url + "/sse/fleet", headers={"Cookie": f"{COOKIE}={stolen}"},
                      timeout=20) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("event: fleet"))
        c.post("/logout", data={"csrf": token})
        for _line in lines:  # the server closes the stream: the loop ends instead of running forever
            pass


# -- timeouts ------------------------------------------------------------------------------------------------


def test_idle_timeout_ends_a_session_nobody_uses(dash: tuple[DashboardServer, CentralStore], clock: Clock) -> None:
    server, _store = dash
    c, _, _ = _logged_in(server, "li")
    for _ in range(4):  # active: each request within the idle time keeps it alive, past the idle time in all
        clock.now += auth.SESSION_IDLE_S - 60
        assert c.get("/api/session").status_code == 200
    clock.now += auth.SESSION_IDLE_S
    assert c.get("/api/session").status_code == 401
    clock.now -= auth.SESSION_IDLE_S  # the clock going back does not bring an ended session back
    assert c.get("/api/session").status_code == 401


def test_absolute_timeout_ends_even_a_busy_session(dash: tuple[DashboardServer, CentralStore],
                                                   clock: Clock) -> None:
    server, _store = dash
    c, _, _ = _logged_in(server, "li")
    start = clock.now
    while clock.now + 600 < start + auth.SESSION_MAX_S:
        clock.now += 600
        assert c.get("/api/session").status_code == 200
    clock.now = start + auth.SESSION_MAX_S
    assert c.get("/api/session").status_code == 401
    assert _login(c, "li").url.path == "/"  # a new login is a new session


def test_timeouts_are_configurable(tmp_path: Path, db_url: str, clock: Clock) -> None:
    store = CentralStore(db_url)
    _add_operators(store)
    server = _serve(store, tmp_path, clock, session_idle_s=60, session_max_s=300)
    try:
        c, _, _ = _logged_in(server, "li")
        clock.now += 59
        assert c.get("/api/session").status_code == 200
        clock.now += 61
        assert c.get("/api/session").status_code == 401
        c, _, _ = _logged_in(server, "li")
        for _ in range(5):
            clock.now += 59
            assert c.get("/api/session").status_code == 200
        clock.now += 6
        assert c.get("/api/session").status_code == 401
    finally:
        server.stop()
        store.close()
    with pytest.raises(ValueError, match="idle"):
        auth.SessionPolicy(idle_s=0)
    with pytest.raises(ValueError, match="absolute"):
        auth.SessionPolicy(idle_s=600, max_s=300)


def _options(*argv: str) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    auth.add_dashboard_arguments(parser)
    return auth.dashboard_options(parser.parse_args(argv))


def test_serve_takes_session_options_from_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _options() == {"https_only": False, "session_idle_s": auth.SESSION_IDLE_S,
                                     "session_max_s": auth.SESSION_MAX_S}
    assert _options("--secure-cookies", "--session-idle", "10", "--session-max", "2") == {
        "https_only": True, "session_idle_s": 600.0, "session_max_s": 7200.0}
    monkeypatch.setenv("KIOSK_CENTRAL_SECURE_COOKIES", "1")
    monkeypatch.setenv("KIOSK_CENTRAL_SESSION_IDLE", "15")
    monkeypatch.setenv("KIOSK_CENTRAL_SESSION_MAX", "8")
    assert _options() == {"https_only": True, "session_idle_s": 900.0, "session_max_s": 28800.0}
    monkeypatch.setenv("KIOSK_CENTRAL_SESSION_IDLE", "soon")
    with pytest.raises(ValueError, match="'soon' is not a number of minutes"):
        _options()
    with pytest.raises(ValueError, match="absolute timeout"):
        _options("--session-idle", "600", "--session-max", "1")
    for bad in (["--session-idle", "0"], ["--session-idle", "abc"], ["--session-max", "-1"]):
        with pytest.raises(SystemExit) as exc:
            central_main(["serve", "--broker", "mqtt://127.0.0.1:1", *bad])
        assert exc.value.code == 2


# -- TLS: Secure cookie and HSTS ---------------------------------------------------------------------------


def test_secure_cookie_and_hsts_only_when_asked(tmp_path: Path, db_url: str, clock: Clock,
                                               dash: tuple[DashboardServer, CentralStore]) -> None:
    plain, _ = dash
    r = httpx.get(plain.url + "/login")
    assert "strict-transport-security" not in r.headers
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "secure" not in cookie.lower() and "httponly" in cookie.lower()

    store = CentralStore(db_url)
    server = _serve(store, tmp_path / "tls", clock, https_only=True)
    try:
        r = httpx.get(server.url + "/login")
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{SECURE_COOKIE}=") and SECURE_COOKIE.startswith("__Host-")
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite", "path"} <= attributes and "domain" not in attributes
        assert "samesite=strict" in cookie.lower() and "path=/;" in cookie.lower() + ";"
        # A login works under the secure name (this client speaks plain HTTP, so the cookie is handed over by
        # hand, as the browser does over the TLS proxy).
        login = httpx.post(server.url + "/login", data={"username": "li", "password": PASSWORDS["li"],
                                                        "csrf": _csrf(r.text), "next": "/"},
                           headers={"Cookie": f"{SECURE_COOKIE}={r.cookies[SECURE_COOKIE]}"}, follow_redirects=False)
        assert login.status_code == 303 and "secure" in login.headers["set-cookie"].lower()
        session = _with_cookie(server, login.cookies[SECURE_COOKIE], name=SECURE_COOKIE)
        assert session.json()["user"] == "li"
    finally:
        server.stop()
        store.close()


# -- login throttling -------------------------------------------------------------------------------------


def test_logins_are_throttled_per_address_and_never_lock_the_user_out(
        dash: tuple[DashboardServer, CentralStore], clock: Clock) -> None:
    server, store = dash
    stranger = _client(server, "127.0.0.1")
    for _ in range(auth.LOGIN_FREE_FAILURES):
        assert _login(stranger, "wang", "guess-guess").status_code == 401
    blocked = _login(stranger, "wang")  # even the right password is not tried while the address waits
    assert blocked.status_code == 429 and 'id="login-throttled"' in blocked.text
    assert int(blocked.headers["retry-after"]) >= 1
    # The real wang, from another address, logs in at once: no lock-out of the account.
    wang = _client(server, "127.0.0.2")
    assert _login(wang, "wang").url.path == "/"
    # The wait doubles with each further wrong guess (the waits themselves are not counted).
    waits = [int(blocked.headers["retry-after"])]
    for i in range(3):
        clock.now += waits[-1]
        if i == 0:  # logging in to an account of one's own does not clear the count
            assert _login(stranger, "li").url.path == "/"
        assert _login(stranger, "wang", "guess-again").status_code == 401
        r = _login(stranger, "wang")
        assert r.status_code == 429
        waits.append(int(r.headers["retry-after"]))
    assert waits == [1, 2, 4, 8]
    # ... up to a cap, and it is forgotten after a quiet hour.
    clock.now += auth.LOGIN_FORGET_S
    assert _login(stranger, "wang").url.path == "/"
    failed = auth.audit_entries(store, action="login_failed")
    assert len(failed) == auth.LOGIN_FREE_FAILURES + 3
    assert {e["detail"]["address"] for e in failed} == {"127.0.0.1"}


def test_throttle_groups_ipv6_by_64_and_stays_bounded() -> None:
    from central.web.throttle import LoginThrottle, address_key

    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:10.0.0.7") == "10.0.0.7"
    assert address_key("10.0.0.7") == "10.0.0.7"
    throttle = LoginThrottle(max_addresses=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", T0 + i)
    assert len(throttle) <= 100
    assert LoginThrottle.delay(auth.LOGIN_FREE_FAILURES - 1) == 0
    assert LoginThrottle.delay(auth.LOGIN_FREE_FAILURES) == 1
    assert LoginThrottle.delay(10_000) == auth.LOGIN_MAX_WAIT_S


# -- the audit log -------------------------------------------------------------------------------------------


def test_a_password_typed_as_the_user_name_never_reaches_the_audit_log(
        dash: tuple[DashboardServer, CentralStore], caplog: pytest.LogCaptureFixture) -> None:
    server, store = dash
    caplog.set_level(logging.DEBUG)
    c = _client(server)
    assert _login(c, "Tr0ub4dor&3-mine", "").status_code in (401, 422)
    assert _login(c, "Tr0ub4dor3mine", "whatever").status_code == 401  # a name-shaped password
    assert _login(c, "wang", "not-wangs-password").status_code == 401
    entries = auth.audit_entries(store, action="login_failed")
    assert [e["actor"] for e in entries][:2] == ["wang", auth.UNKNOWN_USER]
    text = json.dumps(auth.audit_entries(store)) + caplog.text
    assert "Tr0ub4dor" not in text and "not-wangs-password" not in text


# -- in a real browser ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_browser_logout_and_password_change_end_copied_sessions(
        browser: Any, dash: tuple[DashboardServer, CentralStore]) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    server, _store = dash
    _browser_login(browser, server.url, "admin")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="logged in")
    copied = browser.get_cookie(COOKIE)
    assert copied["httpOnly"] and copied["sameSite"] == "Strict"
    assert _with_cookie(server, copied["value"]).json()["user"] == "admin"
    browser.find_element(By.ID, "logout").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "login-form"), what="the login form")
    assert _with_cookie(server, copied["value"]).status_code == 401

    _browser_login(browser, server.url, "admin")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="logged in again")
    copied = browser.get_cookie(COOKIE)["value"]
    browser.find_element(By.ID, "nav-password").click()
    browser.find_element(By.ID, "current").send_keys(PASSWORDS["admin"])
    browser.find_element(By.ID, "new").send_keys("brand-new-secret-9")
    browser.find_element(By.ID, "again").send_keys("brand-new-secret-9")
    browser.find_element(By.ID, "password-submit").click()
    flash = _wait(browser, lambda d: d.find_elements(By.ID, "flash"), what="the notice")[0]
    assert "密码已修改" in flash.text and browser.find_elements(By.ID, "login-form")
    assert _with_cookie(server, copied).status_code == 401
    _browser_login(browser, server.url, "admin", "brand-new-secret-9")
    _wait(browser, lambda d: d.find_elements(By.ID, "who"), what="logged in with the new password")


# -- on PostgreSQL --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:
        yield server


def test_sessions_on_postgres(pg: PrivatePostgres) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    store = CentralStore(pg.url.rsplit("/", 1)[0] + f"/{name}")
    try:
        _add_operators(store)
        policy = auth.SessionPolicy()
        sid = auth.start_session(store, "admin", T0, policy)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sid)
        with store.session() as s:
            stored = list(s.scalars(select(DashboardSession.id_hash)))
        assert sid not in stored and len(stored) == 1  # only a hash of the id is kept
        assert auth.session_principal(store, sid, T0 + 10, policy) == auth.Principal("admin", "admin")
        auth.set_role(store, "admin", "operator")
        assert auth.session_principal(store, sid, T0 + 20, policy) is None
        sid = auth.start_session(store, "admin", T0 + 30, policy)
        assert auth.session_principal(store, sid, T0 + 30 + policy.idle_s, policy) is None
    finally:
        store.close()
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
