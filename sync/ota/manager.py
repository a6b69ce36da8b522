"""The whole update, as ``kiosk-syncd`` runs it: download, verify, unpack, wait for a quiet moment,
switch, restart; after the restart, confirm the new version is healthy or roll back.

Before the restart (old version, background thread; the MQTT loop keeps running):

1. download the artefact (``sync.ota.download``) into ``{root}/downloads``;
2. verify size, SHA-256 and the release signature (``sync.ota.verify``) — refused otherwise;
3. unpack side by side into ``releases/<version>/`` (``sync.ota.install``);
4. wait until no resident is in a session (outbox state ``session_active``, written by the UI);
5. save ``ota_state.json`` (phase ``switched``, deadline), switch ``current``, ask for a restart.

After the restart (:meth:`OtaManager.resume`, new version): wait until the whole kiosk passes the health
gate (:func:`sync.ota.health.kiosk_gate`: this daemon reached the broker or confirmed it is offline; the new
release's UI drew the attract screen and answered a liveness probe; the drivers' self-test is not worse than
before the switch, recorded in the state as ``baseline``) and the release's health script passes, before
the deadline: phase ``healthy``, the ``command_result`` says ok. Otherwise: ``current`` back to the previous
release, phase ``rolled_back``, result reported, restart again (into the old version). A version that cannot even
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
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.ota.delta import apply_delta
from sync.ota.download import DownloadError, download, part_path
from sync.ota.health import baseline, has_mark, kiosk_gate, run_health_script, write_mark
from sync.ota.install import SPACE_MARGIN, InstallError, check_space, unpack_release
from sync.ota.schema import RESULT_KEY, STATE_KEY, Outcome, record, take_back
from sync.ota.switch import HEALTHY, HELD, ROLLED_BACK, SWITCHED, Releases, UpdateState
from sync.ota.trust import ReleaseTrust, TrustRefused
from sync.ota.verify import ReleaseRejected, file_digest, verify_release
from sync.outbox.store import MIGRATIONS, Outbox
from sync.protocol import commands as proto

log = logging.getLogger("kiosk.ota")

ACTION = "update"
DEFAULT_HEALTH_TIMEOUT_S = 180.0
SESSION_STALE_S = 1800.0  # a session flag older than this is a UI that died mid-session, not a resident
SESSION_WAIT_S = 6 * 3600.0  # give up switching (refused, busy) after waiting this long for a quiet moment
DOWNLOADS = "downloads"
DOWNLOAD_ATTEMPTS = 4
DOWNLOAD_RETRY_S = 2.0
UNPACK_FACTOR = 3  # a release unpacks to about 2.3 times its .tar.gz; the exact figure is checked before unpacking
ROLLBACK_HELD = "rollback_held"  # command_result reason: the new release stays, see sync.ota.schema
BASELINE_KEY = "baseline"  # UpdateState.extra: the UI and drivers before the switch (sync.ota.health.baseline)

# report(command_id, action, ok, reason, detail, extra) -- the executor's result event writer
Reporter = Callable[[str | None, str | None, bool, str, str, dict[str, Any] | None], None]


class OtaManager:
    """One kiosk's software updates under ``releases.root``."""

    def __init__(self, releases: Releases, outbox: Outbox, *, report: Reporter, restart: Callable[[], None],
                 trust: ReleaseTrust, clock: Callable[[], float] = time.time,
                 poll_s: float = 1.0, session_stale_s: float = SESSION_STALE_S,
                 session_wait_s: float = SESSION_WAIT_S, ui_home: Path | None = None,
                 space_margin: int = SPACE_MARGIN) -> None:
        self.releases = releases
        self.space_margin = space_margin  # left free after an update (sync.ota.install.check_space)
        self.ui_home = ui_home  # the kiosk's home, where the UI keeps its liveness record (sync.ota.liveness)
        self.outbox = outbox
        self.report = report
        self.restart = restart
        self.trust = trust  # the pinned offline release key and the version floor (sync.ota.trust)
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

    def start_update(self, command_id: str | None, args: dict[str, Any], *, source: str | None = None,
                     done: Callable[[], None] | None = None) -> None:
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
            try:
                self.trust.check_version(version)
                pinned = self.trust.key()
            except TrustRefused as exc:
                raise proto.CommandRefused(proto.REFUSED, str(exc), command_id) from None
            if pinned is None:
                raise proto.CommandRefused(proto.REFUSED, "this kiosk has no release key pinned", command_id)
            self._thread = threading.Thread(target=self._run_update, args=(command_id, dict(args), source, done),
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
        if state.phase in (HEALTHY, ROLLED_BACK):  # a failed release goes once the old one runs again
            self._prune_after(state)

    def watch_inbox(self, home: Path, every_s: float = 5.0) -> None:
        """Apply releases a technician staged from a USB stick (``sync.ota.inbox``) when no update runs."""
        from sync.ota import inbox

        def run() -> None:
            while not self._stop.wait(every_s):
                try:
                    inbox.take(self, home)
                except Exception:
                    log.exception("the USB update inbox could not be read")

        self._watcher = threading.Thread(target=run, name="ota-inbox", daemon=True)
        self._watcher.start()

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

    def _result(self, command_id: str | None, ok: bool, reason: str, detail: str, facts: dict[str, Any]) -> None:
        """Report an outcome; one of a USB update is also kept for the service screen (sync.ota.inbox)."""
        self.report(command_id, ACTION, ok, reason, detail, facts)
        if facts.get("source") == "usb":
            with contextlib.suppress(Exception):
                self.outbox.set_states({"usb_update": json.dumps({
                    "version": facts.get("to_version"), "ok": ok, "reason": reason, "detail": detail[:300],
                    "running_version": facts.get("running_version"), "at": self.clock()})})

    def _run_update(self, command_id: str | None, args: dict[str, Any], source: str | None = None,
                    done: Callable[[], None] | None = None) -> None:
        version = str(args["version"])
        current = self.releases.current_version()
        facts: dict[str, Any] = {"from_version": current, "to_version": version, "running_version": current,
                                 **({"source": source} if source else {})}
        stage = "space"
        # Named by the signed hash: a download that broke off resumes only with the same artefact.
        artefact = self.releases.root / DOWNLOADS / f"{args['sha256']}.artifact"
        try:
            self._make_room(artefact)
            need = int(args["size"]) + int(args.get("unpacked_size") or UNPACK_FACTOR * int(args["size"]))
            if args.get("delta"):  # the base's tar and the new tar are made beside it for a moment
                need += 2 * int(args["delta"]["target_size"])
            self.releases.root.mkdir(parents=True, exist_ok=True)
            check_space(self.releases.root, need - _part_size(artefact), self.space_margin)  # before any write
            stage = "download"
            if args.get("file"):  # brought on a USB stick (sync.ota.inbox): the same checks from here on
                _copy_in(Path(str(args["file"])), artefact)
            else:
                self._download(str(args["url"]), artefact, int(args["size"]))
            stage = "verify"
            if args.get("key_rotation"):  # a new release key, certified by the pinned one
                log.warning("release key rotated to %s", self.trust.rotate(dict(args["key_rotation"])))
            release, sha, size = artefact, str(args["sha256"]), int(args["size"])
            if args.get("delta"):  # the signature covers the release the delta rebuilds, not the delta
                if file_digest(artefact) != (sha, size):
                    raise ReleaseRejected("the delta's SHA-256 or size does not match the command")
                stage = "patch"
                delta = dict(args["delta"])
                release = apply_delta(artefact, self.releases.path(str(delta["base"])), delta, artefact.parent)
                sha, size = str(delta["target_sha256"]), int(delta["target_size"])
                stage = "verify"
            verify_release(self.trust.key(), release, version=version, sha256_hex=sha, size=size,
                           signature_b64=str(args["signature"]))
            stage = "install"
            unpack_release(release, self.releases.dir, version, margin=self.space_margin)
        except (DownloadError, ReleaseRejected, TrustRefused, InstallError, OSError) as exc:
            detail = str(exc) if not isinstance(exc, OSError) else f"{type(exc).__name__}"
            log.warning("update to %s refused at %s: %s", version, stage, detail)
            self._result(command_id, False, proto.REFUSED, detail, {**facts, "stage": stage})
            return
        finally:
            with contextlib.suppress(OSError):
                artefact.unlink()  # a whole artefact is not kept (a broken-off part is, to resume)
            if args.get("delta"):
                with contextlib.suppress(OSError):
                    (artefact.parent / f"{args['delta']['target_sha256']}.tar").unlink()
            if done is not None:
                done()
        log.info("release %s unpacked; switching when no resident is in a session", version)
        waited_until = self.clock() + self.session_wait_s
        while self.session_active():
            if self._stop.wait(self.poll_s):
                return  # the daemon is stopping: the command is not finished; the operator sends it again
            if self.clock() > waited_until:
                self._result(command_id, False, proto.BUSY, "a resident session never ended; the update was not "
                             "applied", {**facts, "stage": "switch"})
                return
        now = self.clock()
        timeout = float(args.get("health_timeout_s") or DEFAULT_HEALTH_TIMEOUT_S)
        state = UpdateState(command_id=command_id, version=version, previous=current, phase=SWITCHED,
                            deadline=now + timeout, switched_at=now)
        try:
            state.extra[STATE_KEY] = record(self.outbox.path, MIGRATIONS)  # what a rollback takes the outbox to
            state.extra[BASELINE_KEY] = baseline(self.ui_home, now)  # what "not worse" means after the switch
            if source:
                state.extra["source"] = source
            self.releases.save_state(state)
            self.releases.switch_to(version)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.releases.state_path.unlink()
            self._result(command_id, False, proto.REFUSED, f"could not switch: {type(exc).__name__}",
                         {**facts, "stage": "switch"})
            return
        self.outbox.set_states({"release_version": version})
        log.info("switched to release %s (was %s); restarting", version, current)
        self.restart()

    def _make_room(self, artefact: Path) -> None:
        """Only ``current`` and the previous release stay, and only this artefact's part download."""
        removed = self.releases.prune({self.releases.previous_version()})
        if removed:
            log.info("removed old releases %s", ", ".join(removed))
        downloads = self.releases.root / DOWNLOADS
        if downloads.is_dir():
            for leftover in downloads.iterdir():
                if leftover.name != part_path(artefact).name:
                    with contextlib.suppress(OSError):
                        leftover.unlink()

    def _download(self, url: str, artefact: Path, size: int) -> None:
        """Download with resume: a connection that breaks is taken up where it stopped, a few times."""
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                download(url, artefact, max_bytes=size, stop=self._stop)
                return
            except DownloadError as exc:
                resumable = part_path(artefact).exists() or "HTTP" not in str(exc)
                if attempt + 1 == DOWNLOAD_ATTEMPTS or self._stop.is_set() or not resumable:
                    raise
                log.warning("download of the update broke off (%s); resuming", exc)
                if self._stop.wait(DOWNLOAD_RETRY_S * (attempt + 1)):
                    raise

    def _prune_after(self, state: UpdateState) -> None:
        try:
            if state.phase == HEALTHY:
                self.releases.record_previous(state.previous)
            removed = self.releases.prune({self.releases.previous_version()})
        except OSError as exc:
            log.warning("could not remove old releases: %s", type(exc).__name__)
            return
        if removed:
            log.info("removed old releases %s (kept %s and %s)", ", ".join(removed), self.releases.current_version(),
                     self.releases.previous_version() or "nothing before it")

    # -- after the restart -----------------------------------------------------------------------

    def _confirm(self, state: UpdateState) -> None:
        release_dir = self.releases.path(state.version)
        while True:
            try:
                states = self.outbox.states()
            except Exception as exc:  # the outbox cannot be opened: not healthy (yet)
                states = {"outbox_error": type(exc).__name__}
            verdict = kiosk_gate(states=states, started_at=self.started_at, version=state.version,
                                 switched_at=state.switched_at, before=state.extra.get(BASELINE_KEY),
                                 ui_home=self.ui_home)
            if verdict.ok:
                break
            if verdict.final or self.clock() > state.deadline:
                self._rollback(state, f"{verdict.why} (health gate)")
                return
            if self._stop.wait(self.poll_s):
                return  # stopping: the next start confirms (or the deadline rolls back)
        ok, why = run_health_script(release_dir, timeout_s=max(1.0, min(60.0, state.deadline - self.clock())))
        if not ok:
            self._rollback(state, why)
            return
        why = f"{verdict.why}; {why}"
        write_mark(release_dir)
        state.phase, state.detail, state.reported = HEALTHY, why, False
        self.releases.save_state(state)
        log.info("release %s is healthy (%s)", state.version, why)
        self._report_final(state)
        self._prune_after(state)

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
        if state.extra.get("source"):
            facts["source"] = state.extra["source"]
        if state.extra.get(RESULT_KEY):
            facts["schema"] = state.extra[RESULT_KEY]
        if state.phase == HEALTHY:
            self._result(state.command_id, True, "ok", f"running {state.version}: {state.detail}", facts)
        elif state.phase == HELD:
            self._result(state.command_id, False, ROLLBACK_HELD, state.detail, facts)
        else:
            self._result(state.command_id, False, proto.ROLLED_BACK, state.detail, facts)
        state.reported = True
        self.releases.save_state(state)


def _copy_in(source: Path, artefact: Path) -> None:
    part = part_path(artefact)
    part.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, part)
    os.replace(part, artefact)


def _part_size(artefact: Path) -> int:
    try:
        return part_path(artefact).stat().st_size
    except OSError:
        return 0


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


__all__ = ["ACTION", "BASELINE_KEY", "DEFAULT_HEALTH_TIMEOUT_S", "ROLLBACK_HELD", "OtaManager", "guard_check",
           "held_detail"]
