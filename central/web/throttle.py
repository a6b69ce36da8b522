"""Slowing down wrong passwords per client address (the login page and the password change use it)."""

from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict

from central.web import auth


def address_key(host: str | None) -> str:
    """Whom a login attempt is counted against: the client's IPv4 address, or its IPv6 /64 (one household or
    server usually holds a whole /64, so counting single IPv6 addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return (host or "-")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    """Wrong passwords slow down the client address they come from, never the account: after
    ``auth.LOGIN_FREE_FAILURES`` failures each further one doubles the wait before the next attempt is even
    checked (1 s, 2 s, 4 s ... ``auth.LOGIN_MAX_WAIT_S``), and ``auth.LOGIN_FORGET_S`` without a failure forgets
    the address. So a stranger who guesses at a known user name delays only themselves; the user logs in from
    their own address as usual. Per process, in memory, at most ``max_addresses`` remembered."""

    def __init__(self, max_addresses: int = 50_000) -> None:
        self._fails: OrderedDict[str, tuple[int, float]] = OrderedDict()  # address -> (failures, last failure)
        self._lock = threading.Lock()
        self._max = max_addresses

    def __len__(self) -> int:
        return len(self._fails)

    @staticmethod
    def delay(failures: int) -> float:
        if failures < auth.LOGIN_FREE_FAILURES:
            return 0.0
        return float(min(auth.LOGIN_MAX_WAIT_S, 2.0 ** min(failures - auth.LOGIN_FREE_FAILURES, 30)))

    def wait_s(self, address: str, now: float) -> float:
        """How long ``address`` must still wait before a login is checked (0: go ahead)."""
        with self._lock:
            entry = self._fails.get(address)
            if entry is None:
                return 0.0
            failures, last = entry
            if now - last >= auth.LOGIN_FORGET_S:
                del self._fails[address]
                return 0.0
            return max(0.0, last + self.delay(failures) - now)

    def failed(self, address: str, now: float) -> float:
        """Count a failure; the wait it imposes."""
        with self._lock:
            failures, last = self._fails.pop(address, (0, now))
            if now - last >= auth.LOGIN_FORGET_S:
                failures = 0
            self._fails[address] = (failures + 1, now)  # most recent last: the oldest go first when full
            while len(self._fails) > self._max:
                self._fails.popitem(last=False)
            return self.delay(failures + 1)
