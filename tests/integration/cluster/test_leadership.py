"""Leadership (the node that delivers webhooks and exports) on a real PostgreSQL lock:
a start that fails gives the lock back, and stepping down stops delivering before it
lets go of the lock."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]

from zapgate.cluster.leader import LEADER_LOCK_KEY, Leadership
from zapgate.util.clock import ManualClock


async def _lock_is_free(url: str) -> bool:
    """Whether another session can take the leader's lock now (and let it go again)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        won = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY))
        if won:
            await conn.fetchval("SELECT pg_advisory_unlock($1)", LEADER_LOCK_KEY)
        return won
    finally:
        await conn.close()


async def test_a_start_that_fails_gives_the_lock_back_and_is_tried_again(
    pg_database: str,
) -> None:
    calls: list[str] = []

    async def gain() -> None:
        calls.append("gain")
        if calls.count("gain") == 1:
            raise RuntimeError("the dispatcher could not read the webhooks")

    async def lose() -> None:
        calls.append("lose")

    async def tick() -> None:
        calls.append("tick")

    leadership = Leadership(pg_database, ManualClock(), on_gain=gain, on_lose=lose, on_tick=tick)
    try:
        await leadership.step()
        assert not leadership.leader
        assert calls == ["gain", "lose"]  # what started is stopped
        assert await _lock_is_free(pg_database)  # another node may lead

        await leadership.step()
        assert leadership.leader
        assert not await _lock_is_free(pg_database)
        await leadership.step()
        assert calls == ["gain", "lose", "gain", "tick"]
    finally:
        await leadership.close()
    assert calls[-1] == "lose"
    assert await _lock_is_free(pg_database)


async def test_stepping_down_stops_delivering_before_letting_go_of_the_lock(
    pg_database: str,
) -> None:
    held_while_stopping: list[bool] = []

    async def nothing() -> None:
        return None

    async def lose() -> None:
        held_while_stopping.append(not await _lock_is_free(pg_database))

    leadership = Leadership(
        pg_database, ManualClock(), on_gain=nothing, on_lose=lose, on_tick=nothing
    )
    await leadership.step()
    assert leadership.leader
    await leadership.close()
    # The requests in flight finish while no other node can lead and claim them.
    assert held_while_stopping == [True]
    assert await _lock_is_free(pg_database)
