"""Pacing one connection's sends, and counting them per day.

WhatsApp flags numbers that send in bursts, so sends are *spaced*, not merely capped:
after each send the next one waits ``60 / per_minute`` seconds, stretched or shrunk
at random by the jitter fraction. A token bucket would allow a burst of a full minute's
budget at once, which is exactly the pattern that gets a number banned.

The spacing is kept in memory, but a process that starts sending for a connection (a
restart, or in a cluster the node that takes the connection over) first seeds it from
the last send the database records, so the pace holds across a move.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from zapgate.util.clock import Clock


class Pacer:
    def __init__(self, clock: Clock, *, jitter: float, rng: random.Random | None = None) -> None:
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self._clock = clock
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._next: dict[str, float] = {}

    def knows(self, key: str) -> bool:
        return key in self._next

    def longest_gap(self, per_minute: int) -> float:
        return 60.0 / per_minute * (1 + self._jitter)

    def seed(self, key: str, per_minute: int, last_sent: datetime | None) -> float:
        """Space the next send from ``last_sent`` (recorded wherever it was sent); returns
        the wait. A clock running ahead on the node that sent it cannot stall ``key`` by
        more than one gap."""
        gap = self._gap(per_minute)
        since = 0.0 if last_sent is None else (self._clock.now() - last_sent).total_seconds()
        wait = 0.0 if last_sent is None else min(max(0.0, gap - since), gap)
        self._next[key] = self._clock.monotonic() + wait
        return wait

    def wait_time(self, key: str) -> float:
        """Seconds until ``key`` may send again (0 when it may send now)."""
        due = self._next.get(key)
        return 0.0 if due is None else max(0.0, due - self._clock.monotonic())

    def record(self, key: str, per_minute: int) -> float:
        """A send happened now; returns the gap before the next one."""
        gap = self._gap(per_minute)
        self._next[key] = self._clock.monotonic() + gap
        return gap

    def _gap(self, per_minute: int) -> float:
        gap = 60.0 / per_minute
        if self._jitter:
            gap *= self._rng.uniform(1 - self._jitter, 1 + self._jitter)
        return gap

    def forget(self, key: str) -> None:
        self._next.pop(key, None)


def next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)


class DailyCounter:
    """Sends per key per UTC day, seeded from the database when a key is first seen."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[date, int]] = {}

    def known(self, key: str, today: date) -> bool:
        entry = self._counts.get(key)
        return entry is not None and entry[0] == today

    def seed(self, key: str, today: date, count: int) -> None:
        self._counts[key] = (today, count)

    def count(self, key: str, today: date) -> int:
        entry = self._counts.get(key)
        return entry[1] if entry is not None and entry[0] == today else 0

    def add(self, key: str, today: date) -> None:
        self._counts[key] = (today, self.count(key, today) + 1)

    def forget(self, key: str) -> None:
        self._counts.pop(key, None)
