"""The technician's service PIN: an argon2id hash in the secrets folder, with back-off and lock-out.

The PIN itself is never stored or logged. Wrong PINs make the next try wait longer (``backoff_base_s``
doubled per failure); ``max_tries`` failures in a row lock the pad for ``lockout_s``. The failure count
and the lock are kept in a file beside the hash, so restarting the kiosk does not reset them. The caller
raises the alarm for a lock-out (it owns the outbox).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sync.runtime.files import write_private

SECRETS_DIR = "secrets"  # the same folder provisioning keeps the device key in
PIN_FILE = "service_pin"
STATE_FILE = "service_pin_state.json"
# Written by the sync daemon for the central's signed ``service_pin`` command (reset): the PIN pad then asks
# for a new PIN instead of the old one (sync.daemon.commands uses the same names).
RESET_FILE = "service_pin_reset"
MIN_DIGITS = 6
MAX_DIGITS = 12


class PinError(ValueError):
    """A PIN that may not be set (length, digits only, too simple); the message is for the screen."""


@dataclass(frozen=True)
class PinPolicy:
    max_tries: int = 5
    lockout_s: float = 300.0
    backoff_base_s: float = 1.0  # wait after the first wrong PIN; doubles with every further one
    backoff_max_s: float = 30.0


@dataclass(frozen=True)
class Attempt:
    """What one PIN try came to. ``code``: ok | wrong | wait | locked | locked_now | no_pin."""

    code: str
    wait_s: float = 0.0  # until the next try is allowed (wait, wrong) or the lock ends (locked*)
    tries_left: int = 0

    @property
    def ok(self) -> bool:
        return self.code == "ok"


def secrets_dir(home: Path) -> Path:
    path = home / SECRETS_DIR
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path




def check_new_pin(pin: str) -> None:
    if not pin.isdigit() or not pin.isascii():
        raise PinError("维护密码只能是数字")
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        raise PinError(f"维护密码应为 {MIN_DIGITS}–{MAX_DIGITS} 位数字")
    if len(set(pin)) == 1 or pin in "0123456789012345" or pin in "9876543210987654":
        raise PinError("维护密码过于简单，请不要用重复或连续的数字")


class PinStore:
    def __init__(self, home: Path, policy: PinPolicy | None = None, *,
                 clock: Callable[[], float] = time.time, hasher: PasswordHasher | None = None) -> None:
        self.home = home
        self.policy = policy or PinPolicy()
        self.clock = clock  # wall clock: the lock must survive a restart
        self.hasher = hasher or PasswordHasher()  # argon2id, the library's recommended cost

    @property
    def hash_path(self) -> Path:
        return self.home / SECRETS_DIR / PIN_FILE

    @property
    def state_path(self) -> Path:
        return self.home / SECRETS_DIR / STATE_FILE

    def has_pin(self) -> bool:
        return self.hash_path.exists()

    def reset_pending(self) -> bool:
        """The central reset the PIN (signed command): a new one may be set at the PIN pad."""
        return not self.has_pin() and (self.home / SECRETS_DIR / RESET_FILE).exists()

    def hash_pin(self, pin: str) -> str:
        check_new_pin(pin)
        return self.hasher.hash(pin)

    def set_pin(self, pin: str) -> None:
        self.store_hash(self.hash_pin(pin))

    def store_hash(self, pin_hash: str) -> None:
        """Store a hash made by :meth:`hash_pin` (first-run holds it until the central confirms)."""
        secrets_dir(self.home)
        write_private(self.hash_path, pin_hash.encode("ascii"))
        (self.home / SECRETS_DIR / RESET_FILE).unlink(missing_ok=True)
        self._save_state({"failures": 0, "next_try_at": 0.0, "locked_until": 0.0, "lockouts": 0})

    def stored_hash(self) -> str | None:
        try:
            return self.hash_path.read_text(encoding="ascii").strip() or None
        except OSError:
            return None

    # -- tries ------------------------------------------------------------------------------------

    def _load_state(self) -> dict[str, float]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            return {k: float(data.get(k, 0)) for k in ("failures", "next_try_at", "locked_until", "lockouts")}
        except (OSError, ValueError, TypeError, AttributeError):
            # Missing or damaged: count from zero, but a damaged file must not unlock a locked pad
            # forever: it is rewritten at the next try.
            return {"failures": 0.0, "next_try_at": 0.0, "locked_until": 0.0, "lockouts": 0.0}

    def _save_state(self, state: dict[str, float]) -> None:
        secrets_dir(self.home)
        write_private(self.state_path, json.dumps(state).encode("utf-8"))

    def status(self) -> Attempt:
        """Whether a try is allowed now, without trying."""
        if not self.has_pin():
            return Attempt("no_pin")
        state, now = self._load_state(), self.clock()
        if state["locked_until"] > now:
            return Attempt("locked", state["locked_until"] - now, 0)
        if state["locked_until"]:  # the lock has run out: a fresh set of tries
            return Attempt("ok", 0.0, self.policy.max_tries)
        left = self.policy.max_tries - int(state["failures"])
        if state["next_try_at"] > now:
            return Attempt("wait", state["next_try_at"] - now, left)
        return Attempt("ok", 0.0, left)

    def check(self, pin: str) -> Attempt:
        stored = self.stored_hash()
        if stored is None:
            return Attempt("no_pin")
        state, now = self._load_state(), self.clock()
        if state["locked_until"] > now:
            return Attempt("locked", state["locked_until"] - now, 0)
        if state["locked_until"]:  # a lock that has run out: a fresh set of tries
            state.update(failures=0, locked_until=0.0, next_try_at=0.0)
        if state["next_try_at"] > now:
            return Attempt("wait", state["next_try_at"] - now, self.policy.max_tries - int(state["failures"]))
        try:
            self.hasher.verify(stored, pin)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
        else:
            self._save_state({"failures": 0, "next_try_at": 0.0, "locked_until": 0.0,
                              "lockouts": state["lockouts"]})
            with contextlib.suppress(Exception):
                if self.hasher.check_needs_rehash(stored):
                    write_private(self.hash_path, self.hasher.hash(pin).encode("ascii"))
            return Attempt("ok", 0.0, self.policy.max_tries)
        failures = int(state["failures"]) + 1
        if failures >= self.policy.max_tries:
            locked_until = now + self.policy.lockout_s
            self._save_state({"failures": failures, "next_try_at": locked_until, "locked_until": locked_until,
                              "lockouts": state["lockouts"] + 1})
            return Attempt("locked_now", self.policy.lockout_s, 0)
        delay = min(self.policy.backoff_max_s, self.policy.backoff_base_s * 2 ** (failures - 1))
        self._save_state({"failures": failures, "next_try_at": now + delay, "locked_until": 0.0,
                          "lockouts": state["lockouts"]})
        return Attempt("wrong", delay, self.policy.max_tries - failures)
