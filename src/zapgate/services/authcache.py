"""A short-lived memory of credentials already checked against the database.

Every API request authenticates; reading the API key (or the token's user) for each one
cost more than the rest of a ``POST /messages`` accept. Entries live ``ttl`` seconds, so
a change made by another process (another server, the CLI) is seen within that bound;
changes made through this process's :class:`AccountService` clear the cache at once.
Ages are measured on the monotonic clock: a wall clock set back (NTP, a VM restored)
must not keep a revoked credential accepted for the length of the step.

When an entry expires, every request in flight with that credential misses at once (64
under ``bench/send.py``): :meth:`TTLCache.get_or_load` reads the database once for all
of them, instead of 64 reads that overflowed the read pool (each new SQLite connection
costs several trips to its thread) and stalled sends for 200 ms every few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from zapgate.util.clock import Clock

V = TypeVar("V")


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires_at: float
    """On the clock's monotonic scale."""


class TTLCache(Generic[V]):
    """At most ``max_entries`` values, each forgotten ``ttl`` seconds after it was put."""

    def __init__(self, clock: Clock, *, ttl: float, max_entries: int = 10_000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, _Entry[V]] = {}
        self.generation = 0
        """Bumped by :meth:`clear`; a value read before a clear must not be put after it."""
        self._loading: dict[str, asyncio.Future[V]] = {}

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock.monotonic():
            del self._entries[key]
            return None
        return entry.value

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        """The value of ``key``, calling ``load`` on a miss; callers that miss while a
        load of ``key`` is in flight wait for that one. A failed load fails its waiters
        too (nothing is remembered); a cancelled one makes them try again. A load begun
        before a :meth:`clear` is never joined after it."""
        value = self.get(key)
        if value is not None:
            return value
        while (loading := self._loading.get(key)) is not None:
            try:
                return await asyncio.shield(loading)
            except _LoadCancelled:
                continue
        loading = self._loading[key] = asyncio.get_running_loop().create_future()
        generation = self.generation
        try:
            value = await load()
        except BaseException as exc:
            self._forget_load(key, loading)
            shared = exc if isinstance(exc, Exception) else _LoadCancelled()
            loading.set_exception(shared)
            loading.exception()  # retrieved, whether or not anyone was waiting
            raise
        self._forget_load(key, loading)
        loading.set_result(value)
        self.put(key, value, generation=generation)
        return value

    def _forget_load(self, key: str, loading: asyncio.Future[V]) -> None:
        if self._loading.get(key) is loading:
            del self._loading[key]

    def put(self, key: str, value: V, *, generation: int | None = None) -> None:
        """Remember ``value``, unless the cache was cleared since ``generation`` was read
        (the value was loaded before a change that the clear announced)."""
        if not self.enabled or (generation is not None and generation != self.generation):
            return
        if len(self._entries) >= self._max and key not in self._entries:
            self._evict()
        self._entries[key] = _Entry(value, self._clock.monotonic() + self._ttl)

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()  # loads in flight read the state before the change
        self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)

    def _evict(self) -> None:
        now = self._clock.monotonic()
        for key in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[key]
        if len(self._entries) >= self._max:
            # Still full of live entries: drop the oldest half (dicts keep insertion order).
            for key in list(self._entries)[: self._max // 2]:
                del self._entries[key]


class _LoadCancelled(Exception):
    """The load that others were waiting for was cancelled with its caller."""
