"""The whole update, as ``kiosk-syncd`` runs it: download, verify, unpack, wait for a quiet moment,
switch, restart; after the restart, confirm the new version is healthy or roll back.

Before the restart (old version, background thread; the MQTT loop keeps running):

1. download the artefact (``sync.ota.download``) into ``{root}/downloads``;
2. verify size, SHA-256 and the release signature (``sync.ota.verify``) — refused otherwise;
3. unpack side by side into ``releases/<version>/`` (``sync.ota.install``);
4. wait until no resident is in a session (outbox state ``session_active``, written by the UI);
5. save ``ota_state.json`` (phase ``switched``, deadline), switch ``current``, ask for a restart.

After the restart (:meth:`OtaManager.resume`, new version): wait until this daemon has reached the
broker and the release's health script passes, before the deadline: phase ``healthy``, the
``command_result`` says ok. Otherwise: ``current`` back to the previous release, phase
``rolled_back``, result reported, restart again (into the old version). A version that cannot even
start is rolled back by :func:`guard_check` (``python -m sync.ota guard``, run from a timer) and its
result reported by the old version's :meth:`~OtaManager.resume`.

Both rollbacks first take the outbox back to the old release's schema with the new release's own scripts
(:mod:`sync.ota.schema`; the old head is recorded in the state when the update starts), keeping every row.
If that cannot be done without loss the rollback is *held*: phase ``held``, the new release keeps running,
reason ``rollback_held``. The result's ``schema`` says what happened to the database
(``"downgraded 0005->0004"``, ``"unchanged 0004"``, ``"restored ..."``, ``"not downgraded ..."``).

Every outcome is one ``command_result`` event: reason ``ok``, ``refused`` (with the ``stage`` that
refused), ``busy``, ``rolled_back`` or ``rollback_held``, with ``from_version``, ``to_version`` and ``running_version``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sync.ota.download import DownloadError, download
from sync.ota.health import has_mark, run_health_script, write_mark
from sync.ota.install import InstallError, unpack_release
from sync.ota.schema import RESULT_KEY, STATE_KEY, Outcome, record, take_back
from sync.ota.switch import HEALTHY, HELD, ROLLED_BACK, SWITCHED, Releases, UpdateState
from sync.ota.verify import ReleaseRejected, verify_release
from sync.outbox.store import MIGRATIONS, Outbox
from sync.protocol import commands as proto

log = logging.getLogger("kiosk.ota")

ACTION = "update"
DEFAULT_HEALTH_TIMEOUT_S = 180.0
SESSION_STALE_S = 1800.0  # a session flag older than this is a UI that died mid-session, not a resident
SESSION_WAIT_S = 6 * 3600.0  # give up switching (refused, busy) after waiting this long for a quiet moment
DOWNLOADS = "downloads"
ROLLBACK_HELD = "rollback_held"  # command_result reason: the new release stays, see sync.ota.schema

# report(command_id, action, ok, reason, detail, extra) -- the executor's result event writer
Reporter = Callable[[str | None, str | None, bool, str, str, dict[str, Any] | None], None]


class OtaManager:
    """One kiosk's software updates under ``releases.root``."""

    def __init__(self, releases: Releases, outbox: Outbox, *, report: Reporter, restart: Callable[[], None],
                 release_public_key: bytes | None, clock: Callable[[], float] = time.time,
                 poll_s: float = 1.0, session_stale_s: float = SESSION_STALE_S,
                 session_wait_s: float = SESSION_WAIT_S) -> None:
        self.releases = releases
        self.outbox = outbox
        self.report = report
        self.restart = restart
        self.release_public_key = release_public_key
        self.clock = clock
        self.poll_s = poll_s
        self.session_stale_s = session_stale_s
        self.session_wait_s = session_wait_s
        self.started_at = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- public ----------------------------------------------------------------------------------

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_update(self, command_id: str, args: dict[str, Any]) -> None:
        """Check what can be checked at once, then run the update on a background thread.

        Raises :class:`~sync.protocol.commands.CommandRefused` (``busy`` / ``refused``) for an update
        that cannot start; the executor reports those. Everything later is reported from the thread.
        """
        version = str(args["version"])
        with self._lock:
            if self.busy():
                raise proto.CommandRefused(proto.BUSY, "another update is in progress", command_id)
            state = self.releases.load_state()
            if state is not None and state.phase == SWITCHED:
                raise proto.CommandRefused(proto.BUSY, "the last update is not confirmed yet", command_id)
            if self.releases.current_version() == version:
                raise proto.CommandRefused(proto.REFUSED, f"version {version} is already running", command_id)
            if self.release_public_key is None:
                raise proto.CommandRefused(proto.REFUSED, "this kiosk has no release key pinned", command_id)
            self._thread = threading.Thread(target=self._run_update, args=(command_id, dict(args)),
                                            name="ota-update", daemon=True)
            self._thread.start()

    def resume(self) -> None:
        """At start-up: report what an earlier process left unreported; confirm or roll back a switch."""
        current = self.releases.current_version()
        self.outbox.set_states({"release_version": current or ""})
        state = self.releases.load_state()
        if state is None:
            return
        if state.phase == SWITCHED:
            if current != state.version:
                state.phase, state.detail = ROLLED_BACK, "current was moved off the new version before it was confirmed"
                state.reported = False
                self.releases.save_state(state)
            elif self.clock() > state.deadline:
                self._rollback(state, "the new version did not report healthy before its deadline")
                return
            else:
                self._thread = threading.Thread(target=self._confirm, args=(state,), name="ota-health", daemon=True)
                self._thread.start()
                return
        if not state.reported:
            self._report_final(state)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background work (tests, and a clean shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # -- before the restart ----------------------------------------------------------------------

    def session_active(self) -> bool:
        states = self.outbox.states()
        if states.get("session_active") != "1":
            return False
        try:
            since = float(states.get("session_changed") or 0)
        except ValueError:
            since = 0.0
        return self.clock() - since < self.session_stale_s

    def _run_update(self, command_id: str, args: dict[str, Any]) -> None:
        version = str(args["version"])
        current = self.releases.current_version()
        facts: dict[str, Any] = {"from_version": current, "to_version": version, "running_version": current}
        stage = "download"
        artefact = self.releases.root / DOWNLOADS / f"{version}.artifact"
        try:
            download(str(args["url"]), artefact, max_bytes=int(args["size"]), stop=self._stop)
            stage = "verify"
            verify_release(self.release_public_key, artefact, version=version, sha256_hex=str(args["sha256"]),
                           size=int(args["size"]), signature_b64=str(args["signature"]))
            stage = "install"
            unpack_release(artefact, self.releases.dir, version)
        except (DownloadError, ReleaseRejected, InstallError, OSError) as exc:
            detail = str(exc) if not isinstance(exc, OSError) else f"{type(exc).__name__}"
            log.warning("update to %s refused at %s: %s", version, stage, detail)
            self.report(command_id, ACTION, False, proto.REFUSED, detail, {**facts, "stage": stage})
            return
        finally:
            with contextlib.suppress(OSError):
                artefact.unlink()
        log.info("release %s unpacked; switching when no resident is in a session", version)
        waited_until = self.clock() + self.session_wait_s
        while self.session_active():
            if self._stop.wait(self.poll_s):
                return  # the daemon is stopping: the command is not finished; the operator sends it again
            if self.clock() > waited_until:
                self.report(command_id, ACTION, False, proto.BUSY,
                            "a resident session never ended; the update was not applied",
                            {**facts, "stage": "switch"})
                return
        now = self.clock()
        timeout = float(args.get("health_timeout_s") or DEFAULT_HEALTH_TIMEOUT_S)
        state = UpdateState(command_id=command_id, version=version, previous=current, phase=SWITCHED,
                            deadline=now + timeout, switched_at=now)
        try:
            state.extra[STATE_KEY] = record(self.outbox.path, MIGRATIONS)  # what a rollback takes the outbox to
            self.releases.save_state(state)
            self.releases.switch_to(version)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.releases.state_path.unlink()
            self.report(command_id, ACTION, False, proto.REFUSED, f"could not switch: {type(exc).__name__}",
                        {**facts, "stage": "switch"})
            return
        self.outbox.set_states({"release_version": version})
        log.info("switched to release %s (was %s); restarting", version, current)
        self.restart()

    # -- after the restart -----------------------------------------------------------------------

    def _connected_since_start(self) -> bool:
        states = self.outbox.states()
        try:
            since = float(states.get("connected_since") or 0)
        except ValueError:
            return False
        return states.get("connected") == "1" and since >= self.started_at

    def _confirm(self, state: UpdateState) -> None:
        release_dir = self.releases.path(state.version)
        while not self._connected_since_start():
            if self.clock() > state.deadline:
                self._rollback(state, "the new version did not reach the broker before its deadline")
                return
            if self._stop.wait(self.poll_s):
                return  # stopping: the next start confirms (or the deadline rolls back)
        ok, why = run_health_script(release_dir, timeout_s=max(1.0, min(60.0, state.deadline - self.clock())))
        if not ok:
            self._rollback(state, why)
            return
        write_mark(release_dir)
        state.phase, state.detail, state.reported = HEALTHY, why, False
        self.releases.save_state(state)
        log.info("release %s is healthy (%s)", state.version, why)
        self._report_final(state)

    def _rollback(self, state: UpdateState, why: str) -> None:
        previous = state.previous
        if previous and self.releases.path(previous).is_dir():
            # This process runs the new release: its scripts are the ones that know the newer schema.
            outcome = take_back(self.releases.path(state.version), state.extra.get(STATE_KEY), in_process=MIGRATIONS)
            state.extra[RESULT_KEY] = outcome.text
            if not outcome.ok:
                self._hold(state, why, outcome)
                return
            self.releases.switch_to(previous)
            log.error("release %s rolled back to %s: %s", state.version, previous, why)
        else:
            log.error("release %s failed (%s) and there is no previous release to go back to", state.version, why)
            why += "; no previous release to go back to"
        state.phase, state.detail, state.reported = ROLLED_BACK, why, False
        self.releases.save_state(state)
        self.outbox.set_states({"release_version": self.releases.current_version() or ""})
        self._report_final(state)
        self.restart()

    def _hold(self, state: UpdateState, why: str, outcome: Outcome) -> None:
        """The old release could not open the outbox and restoring the copy would lose rows: stay."""
        log.error("release %s failed (%s) but is kept: the outbox could not be taken back (%s)", state.version, why,
                  outcome.text)
        state.phase, state.reported = HELD, False
        state.detail = held_detail(state, why)
        self.releases.save_state(state)
        self._report_final(state)

    def _report_final(self, state: UpdateState) -> None:
        running = self.releases.current_version()
        facts: dict[str, Any] = {"from_version": state.previous, "to_version": state.version,
                                 "running_version": running}
        if state.extra.get(RESULT_KEY):
            facts["schema"] = state.extra[RESULT_KEY]
        if state.phase == HEALTHY:
            self.report(state.command_id, ACTION, True, "ok", f"running {state.version}: {state.detail}", facts)
        elif state.phase == HELD:
            self.report(state.command_id, ACTION, False, ROLLBACK_HELD, state.detail, facts)
        else:
            self.report(state.command_id, ACTION, False, proto.ROLLED_BACK, state.detail, facts)
        state.reported = True
        self.releases.save_state(state)


def guard_check(releases: Releases, now: float | None = None) -> str | None:
    """Roll back a switched version that missed its deadline without a health mark (it may not even
    start). Meant to run from the previous release on a timer. Returns the version rolled back to."""
    state = releases.load_state()
    now = time.time() if now is None else now
    if state is None or state.phase != SWITCHED or now <= state.deadline:
        return None
    if has_mark(releases.path(state.version)) or not state.previous:
        return None
    if not releases.path(state.previous).is_dir():
        return None
    why = "the new version did not report healthy before its deadline"
    # Switch first: the new release may be in a restart loop and would migrate the outbox again between a
    # downgrade and the switch; the old release starting early only exits (schema too new) and is restarted.
    releases.switch_to(state.previous)
    outcome = take_back(releases.path(state.version), state.extra.get(STATE_KEY))
    state.extra[RESULT_KEY] = outcome.text
    state.reported = False
    if not outcome.ok:
        releases.switch_to(state.version)
        state.phase, state.detail = HELD, held_detail(state, why + " (guard)")
        releases.save_state(state)
        log.error("guard: release %s failed but is kept: %s", state.version, outcome.text)
        return None
    state.phase, state.detail = ROLLED_BACK, why + " (rolled back by the guard)"
    releases.save_state(state)
    log.error("guard: release %s rolled back to %s (outbox: %s)", state.version, state.previous, outcome.text)
    return state.previous


def held_detail(state: UpdateState, why: str) -> str:
    return (f"{why}; rollback to {state.previous} held: the outbox could not be taken back to its schema without "
            f"losing rows ({state.extra.get(RESULT_KEY)}). {state.version} keeps running and accepting; automatic "
            "rollback is paused until a fixed release is sent or a technician recovers the machine")


__all__ = ["ACTION", "DEFAULT_HEALTH_TIMEOUT_S", "ROLLBACK_HELD", "OtaManager", "guard_check", "held_detail"]
