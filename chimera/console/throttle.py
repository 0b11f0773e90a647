"""Login throttling: too many failures for one name, or from one client, within a window and
further attempts are refused until the window has passed (a correct password included).

Kept in the console process's memory: one console process per deployment (several would
each count on their own, which multiplies the allowance by their number).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque


class LoginThrottle:
    """Counts failed logins per key (`name:<user>`, `client:<address>`)."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def wait_s(self, keys: list[str], now: float | None = None) -> float:
        """Seconds until an attempt is allowed for all of `keys` (0: allowed now)."""
        now = time.monotonic() if now is None else now
        waits = [
            recent[0] + self.window_s - now
            for key in keys
            if len(recent := self._recent(key, now)) >= self.attempts
        ]
        return max(waits, default=0.0)

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
