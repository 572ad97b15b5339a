"""Leadership (the node that delivers webhooks and exports) on a real PostgreSQL lock:
a start that fails gives the lock back, stepping down stops delivering before it lets
go of the lock, and a paused leader loses the lock to another node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

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


async def test_a_paused_leader_loses_the_lock_to_another_node_and_steps_down_on_waking(
    pg_database: str,
) -> None:
    """A leader whose process stops (SIGSTOP, a frozen VM) keeps its connection open:
    without ``silence`` it would hold the lock, and every node's deliveries would wait,
    until it resumed."""
    calls: list[str] = []

    def recording(name: str) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            calls.append(name)

        return step

    paused = Leadership(
        pg_database,
        ManualClock(),
        on_gain=recording("paused gains"),
        on_lose=recording("paused loses"),
        on_tick=recording("paused ticks"),
        interval=0.1,
        silence=0.3,
    )
    other = Leadership(
        pg_database,
        ManualClock(),
        on_gain=recording("other gains"),
        on_lose=recording("other loses"),
        on_tick=recording("other ticks"),
    )
    try:
        await paused.step()
        assert paused.leader
        # ``paused`` takes no step from here on, as a stopped process would not.
        deadline = time.monotonic() + 5.0
        while not other.leader:
            assert time.monotonic() < deadline, "the paused leader kept the lock"
            await other.step()
            await asyncio.sleep(0.05)  # PostgreSQL's clock, not ours, ends the session
        assert calls == ["paused gains", "other gains"]
        # Woken up, the old leader finds its connection gone and stops delivering.
        await paused.step()
        assert not paused.leader
        assert calls == ["paused gains", "other gains", "paused loses"]
    finally:
        await paused.close()
        await other.close()
    assert await _lock_is_free(pg_database)
