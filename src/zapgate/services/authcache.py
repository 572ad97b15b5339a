"""A short-lived memory of credentials already checked against the database.

Every API request authenticates; reading the API key (or the token's user) for each one
cost more than the rest of a ``POST /messages`` accept. Entries live ``ttl`` seconds, so
a change made by another process (another server, the CLI) is seen within that bound;
changes made through this process's :class:`AccountService` clear the cache at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from zapgate.util.clock import Clock

V = TypeVar("V")


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires_at: datetime


class TTLCache(Generic[V]):
    """At most ``max_entries`` values, each forgotten ``ttl`` seconds after it was put."""

    def __init__(self, clock: Clock, *, ttl: float, max_entries: int = 10_000) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._max = max_entries
        self._entries: dict[str, _Entry[V]] = {}
        self.generation = 0
        """Bumped by :meth:`clear`; a value read before a clear must not be put after it."""

    @property
    def enabled(self) -> bool:
        return self._ttl > timedelta(0)

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock.now():
            del self._entries[key]
            return None
        return entry.value

    def put(self, key: str, value: V, *, generation: int | None = None) -> None:
        """Remember ``value``, unless the cache was cleared since ``generation`` was read
        (the value was loaded before a change that the clear announced)."""
        if not self.enabled or (generation is not None and generation != self.generation):
            return
        if len(self._entries) >= self._max and key not in self._entries:
            self._evict()
        self._entries[key] = _Entry(value, self._clock.now() + self._ttl)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)

    def _evict(self) -> None:
        now = self._clock.now()
        for key in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[key]
        if len(self._entries) >= self._max:
            # Still full of live entries: drop the oldest half (dicts keep insertion order).
            for key in list(self._entries)[: self._max // 2]:
                del self._entries[key]
