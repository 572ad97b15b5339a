"""The TTL cache behind credential checks."""

from __future__ import annotations

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
