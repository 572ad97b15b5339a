"""Leadership (the node that delivers webhooks and exports) on a real PostgreSQL lock:
a start that fails gives the lock back, stepping down stops delivering before it lets
go of the lock, and a paused leader loses the lock to another node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg  # type: ignore[import-untyped]

from zapgate.cluster.leader import LEADER_LOCK_KEY, Leadership
from zapgate.util.clock import ManualClock, SystemClock


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


async def _nothing() -> None:
    return None


def _recorded(url: str, name: str, calls: list[str], **timing: float) -> Leadership:
    """A contender whose steps note ``"<name> gains"``, ``"<name> loses"`` and
    ``"<name> ticks"`` in ``calls``; ``timing``: its interval and silence."""

    def recording(what: str) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            calls.append(f"{name} {what}")

        return step

    return Leadership(
        url,
        ManualClock(),
        on_gain=recording("gains"),
        on_lose=recording("loses"),
        on_tick=recording("ticks"),
        **timing,
    )


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

    async def lose() -> None:
        held_while_stopping.append(not await _lock_is_free(pg_database))

    leadership = Leadership(
        pg_database, ManualClock(), on_gain=_nothing, on_lose=lose, on_tick=_nothing
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
    paused = _recorded(pg_database, "paused", calls, interval=0.1, silence=0.3)
    other = _recorded(pg_database, "other", calls)
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


async def test_a_leader_with_a_slow_tick_keeps_the_lock(pg_database: str) -> None:
    """The pings that keep the lock's connection from its silence limit run on their
    own: a tick held up (the pool busy under load) does not cost a healthy leader its
    lock."""
    ticking = asyncio.Event()
    release = asyncio.Event()

    async def slow_tick() -> None:
        ticking.set()
        await release.wait()

    leader = Leadership(
        pg_database,
        SystemClock(),
        on_gain=_nothing,
        on_lose=_nothing,
        on_tick=slow_tick,
        interval=0.25,
        silence=1.5,
    )
    other = Leadership(
        pg_database, ManualClock(), on_gain=_nothing, on_lose=_nothing, on_tick=_nothing
    )
    try:
        await leader.step()
        assert leader.leader
        stuck = asyncio.create_task(leader.step())
        await ticking.wait()
        # Twice the silence limit, the tick still held: the lock stays.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            await other.step()
            assert not other.leader
            assert leader.current()
            await asyncio.sleep(0.05)  # PostgreSQL's clock is the one that matters
        release.set()
        await stuck
        assert leader.leader
    finally:
        release.set()
        await leader.close()
        await other.close()


async def _end_the_lock_holders_session(url: str) -> None:
    """Terminate the session holding the leader's lock, and wait until it is gone."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        pid = await conn.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = ($1::bigint >> 32) AND objid = ($1::bigint & 4294967295)"
            " AND objsubid = 1",
            LEADER_LOCK_KEY,
        )
        assert pid is not None
        assert await conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    finally:
        await conn.close()


async def test_a_leader_whose_connection_has_not_answered_lately_is_not_current(
    pg_database: str,
) -> None:
    """What the dispatcher asks before each claim: false once the lock's connection
    has not answered for the silence limit less an interval (PostgreSQL may have ended
    it), before the next step has found out."""

    clock = ManualClock()
    leader = Leadership(
        pg_database,
        clock,
        on_gain=_nothing,
        on_lose=_nothing,
        on_tick=_nothing,
        interval=2.0,
        silence=10.0,
    )
    try:
        assert not leader.current()
        await leader.step()
        assert leader.current()
        await _end_the_lock_holders_session(pg_database)
        await clock.advance(7.9)  # its pings fail from now on
        assert leader.current()
        await clock.advance(0.2)
        assert leader.leader
        assert not leader.current()
    finally:
        await leader.close()
