"""Login throttling: a sliding window of failures per account and per address.

Kept in memory: it protects a single server process against password guessing; with
several processes each enforces its own window (documented in docs/architecture.md).
"""

from __future__ import annotations

from collections import deque

from zapgate.domain.errors import TooManyRequests
from zapgate.util.clock import Clock


class FailureWindow:
    def __init__(self, clock: Clock, *, limit: int, window: float) -> None:
        self._clock = clock
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def _trim(self, key: str) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        edge = self._clock.monotonic() - self.window
        while hits and hits[0] <= edge:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def check(self, key: str) -> None:
        hits = self._trim(key)
        if len(hits) >= self.limit:
            retry = hits[0] + self.window - self._clock.monotonic()
            raise TooManyRequests(
                "too many failed login attempts; try again later",
                retry_after=max(retry, 1.0),
                code="too_many_attempts",
            )

    def fail(self, key: str) -> None:
        self._hits.setdefault(key, deque()).append(self._clock.monotonic())
        # Bound memory against a flood of distinct keys.
        if len(self._hits) > 100_000:
            for stale in list(self._hits)[:10_000]:
                self._trim(stale)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)


class LoginThrottle:
    def __init__(self, clock: Clock) -> None:
        # 5 failures per account per 15 minutes; 30 per address (offices share one IP).
        self.accounts = FailureWindow(clock, limit=5, window=900)
        self.addresses = FailureWindow(clock, limit=30, window=900)

    def check(self, email: str, address: str) -> None:
        self.accounts.check(email)
        self.addresses.check(address)

    def failed(self, email: str, address: str) -> None:
        self.accounts.fail(email)
        self.addresses.fail(address)

    def succeeded(self, email: str) -> None:
        self.accounts.clear(email)
