"""The TTL cache behind credential checks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from zapgate.services.authcache import TTLCache
from zapgate.util.clock import ManualClock


async def test_entries_expire_after_ttl() -> None:
    clock = ManualClock()
    cache: TTLCache[str] = TTLCache(clock, ttl=5)
    cache.put("k", "v")
    await clock.advance(4.9)
    assert cache.get("k") == "v"
    await clock.advance(0.2)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_zero_ttl_disables() -> None:
    cache: TTLCache[str] = TTLCache(ManualClock(), ttl=0)
    cache.put("k", "v")
    assert not cache.enabled
    assert cache.get("k") is None


async def test_full_cache_drops_expired_then_oldest() -> None:
    clock = ManualClock()
    cache: TTLCache[int] = TTLCache(clock, ttl=10, max_entries=4)
    cache.put("old", 0)
    await clock.advance(11)
    for n in range(4):
        cache.put(f"k{n}", n)
    assert cache.get("old") is None
    assert len(cache) == 4
    cache.put("k4", 4)  # full of live entries: the oldest half goes
    assert cache.get("k0") is None
    assert cache.get("k1") is None
    assert [cache.get(f"k{n}") for n in (2, 3, 4)] == [2, 3, 4]


def test_clear_forgets_everything() -> None:
    cache: TTLCache[int] = TTLCache(ManualClock(), ttl=10)
    cache.put("a", 1)
    cache.clear()
    assert cache.get("a") is None


def test_a_value_read_before_a_clear_is_not_put_after_it() -> None:
    cache: TTLCache[str] = TTLCache(ManualClock(), ttl=10)
    generation = cache.generation
    cache.clear()  # e.g. a key was revoked while its lookup awaited the database
    cache.put("k", "stale", generation=generation)
    assert cache.get("k") is None
    cache.put("k", "fresh", generation=cache.generation)
    assert cache.get("k") == "fresh"


async def test_concurrent_misses_share_one_load() -> None:
    cache: TTLCache[str] = TTLCache(ManualClock(), ttl=5)
    release = asyncio.Event()
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        await release.wait()
        return "principal"

    waiting = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(64)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == ["principal"] * 64
    assert loads == 1
    assert await cache.get_or_load("k", load) == "principal"  # now remembered
    assert loads == 1


async def test_failed_load_fails_its_waiters_and_is_not_remembered() -> None:
    cache: TTLCache[str] = TTLCache(ManualClock(), ttl=5)
    release = asyncio.Event()

    async def refuse() -> str:
        await release.wait()
        raise LookupError("no such key")

    waiting = [asyncio.create_task(cache.get_or_load("k", refuse)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)
    assert cache.get("k") is None

    async def accept() -> str:
        return "v"

    assert await cache.get_or_load("k", accept) == "v"


async def test_cancelled_load_lets_a_waiter_load_again() -> None:
    cache: TTLCache[str] = TTLCache(ManualClock(), ttl=5)
    started = asyncio.Event()
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        if loads == 1:
            started.set()
            await asyncio.Event().wait()  # until cancelled
        return "second"

    leader = asyncio.create_task(cache.get_or_load("k", load))
    await started.wait()
    follower = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    leader.cancel()
    assert await follower == "second"
    assert loads == 2
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_a_clear_during_a_load_keeps_its_value_out() -> None:
    cache: TTLCache[str] = TTLCache(ManualClock(), ttl=5)

    async def load() -> str:
        cache.clear()  # e.g. the key was revoked while it was being read
        return "stale"

    assert await cache.get_or_load("k", load) == "stale"
    assert cache.get("k") is None


async def test_a_miss_after_a_clear_does_not_join_a_load_from_before_it() -> None:
    cache: TTLCache[str] = TTLCache(ManualClock(), ttl=5)
    release = asyncio.Event()
    answers = iter(["read before the change", "read after the change"])

    async def load() -> str:
        await release.wait()
        return next(answers)

    before = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    cache.clear()  # e.g. the key was revoked
    after = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    release.set()
    assert await before == "read before the change"
    assert await after == "read after the change"
    assert cache.get("k") == "read after the change"


class SteppedWallClock:
    """Wall time that can be set back (as NTP or a restored VM does) beside a monotonic
    time that only moves forward."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("the cache never sleeps")

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def test_a_wall_clock_set_back_does_not_extend_an_entry() -> None:
    clock = SteppedWallClock()
    cache: TTLCache[str] = TTLCache(clock, ttl=5)
    cache.put("k", "revoked elsewhere meanwhile")
    clock.wall -= timedelta(hours=1)
    clock.advance(5.1)
    assert cache.get("k") is None
