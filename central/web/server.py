"""Run the dashboard with uvicorn in a thread, next to the ingest workers, with an alarm evaluator that also
sends the alarm notifications (``central.notifier``)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from central import notifier, rollouts
from central.fleet import DEFAULT_THRESHOLDS, Thresholds, evaluate_alarms
from central.store import CentralStore
from central.web.app import create_app
from central.web.i18n import translate
from sync.runtime.files import write_private

log = logging.getLogger("kiosk.central.web")

SECRET_FILE = "dashboard_session.key"  # noqa: S105 (a file name, not a secret)


def alarm_titles(code: str) -> tuple[str, str]:
    """An alarm code's title in Chinese and English, for notifications (the code itself if it has none)."""
    zh, en = translate("zh_CN", "alarm." + code), translate("en", "alarm." + code)
    return (code, code) if zh.startswith("alarm.") else (zh, en)


def load_session_secret(home: Path) -> str:
    """The secret that signs session cookies, kept in the central's home (0600) so logins survive restarts."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SECRET_FILE
    if path.exists():
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) >= 32:
            return secret
    secret = secrets.token_urlsafe(48)
    write_private(path, secret)
    return secret


class DashboardServer:
    """uvicorn serving the dashboard on a thread; ``stop()`` ends it (and the alarm evaluator)."""

    def __init__(self, app: Any, host: str, port: int, *, store: CentralStore, thresholds: Thresholds,
                 evaluate_every_s: float | None, delivery: notifier.Delivery | None = None) -> None:
        self.app = app
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                     lifespan="off", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(self.config)
        self.host = host
        self.port = port
        self.store = store
        self.thresholds = thresholds
        self.evaluate_every_s = evaluate_every_s
        self.delivery = delivery or notifier.Delivery(titles=alarm_titles)
        app.state.delivery = self.delivery
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._evaluator: threading.Thread | None = None
        self._notifier: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> DashboardServer:
        self._thread = threading.Thread(target=self.server.run, name="dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the dashboard could not listen on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start in time")
            time.sleep(0.02)
        if self.port == 0:
            self.port = self.server.servers[0].sockets[0].getsockname()[1]
        if self.evaluate_every_s:
            self._evaluator = threading.Thread(target=self._evaluate_loop, name="alarm-evaluator", daemon=True)
            self._evaluator.start()
            # Notifications on their own thread: a slow SMTP relay or webhook never delays the evaluation.
            self._notifier = threading.Thread(target=self._notify_loop, name="alarm-notifier", daemon=True)
            self._notifier.start()
        log.info("dashboard listening on %s", self.url)
        return self

    def _evaluate_loop(self) -> None:
        assert self.evaluate_every_s
        while not self._stop.wait(self.evaluate_every_s):
            try:
                changed = evaluate_alarms(self.store, thresholds=self.thresholds)
            except Exception:  # the database may be briefly away; the next round tries again
                log.exception("alarm evaluation failed")
                continue
            for kind in ("raised", "cleared"):
                for a in changed[kind]:
                    log.info("alarm %s %s on %s", a["code"], kind, a["device_id"])
            try:
                rollouts.step(self.store, self.app.state.web.send)  # staged OTA rollouts: results, halts, waves
            except Exception:
                log.exception("rollout step failed")

    def _notify_loop(self) -> None:
        assert self.evaluate_every_s
        while not self._stop.wait(self.evaluate_every_s):
            try:
                notifier.run_once(self.store, self.delivery)
            except Exception:  # the database may be briefly away: retried next round, the rows stay pending
                log.exception("alarm notifications failed")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.app.state.stopping.set()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        for worker in (self._evaluator, self._notifier):
            if worker is not None:
                worker.join(timeout)


def serve(store: CentralStore, host: str, port: int, *, keys_home: Path | str, broker_url: str,
          session_secret: str | None = None, thresholds: Thresholds = DEFAULT_THRESHOLDS,
          evaluate_every_s: float | None = 5.0, delivery: notifier.Delivery | None = None,
          **app_options: Any) -> DashboardServer:
    """Start the dashboard on ``host:port`` (0 picks a free port) and return the running server."""
    keys_home = Path(keys_home)
    secret = session_secret or load_session_secret(keys_home)
    app = create_app(store, keys_home, broker_url, session_secret=secret, thresholds=thresholds, **app_options)
    return DashboardServer(app, host, port, store=store, thresholds=thresholds,
                           evaluate_every_s=evaluate_every_s, delivery=delivery).start()


def parse_http(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as given to ``kiosk-central serve --http``."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError("--http takes HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)
