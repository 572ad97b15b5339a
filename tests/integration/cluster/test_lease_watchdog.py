"""A lease round stuck in a query, on a real PostgreSQL, in one process: the watchdog
closes the node's sessions on time and the round writes nothing more; the keeper's
statement timeout makes a stuck round fail instead of hanging."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from tests.conftest import _truncate_pg
from tests.integration.cluster.test_leases import Holder, _connections
from zapgate.cluster.leases import LeaseKeeper
from zapgate.cluster.node import lease_database
from zapgate.cluster.nodes import NodeIdentity, NodeRegistry
from zapgate.store.db import Database
from zapgate.store.tables.cluster import NodeRow
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import ManualClock

LEASE = timedelta(seconds=10)


@pytest.fixture
async def db(pg_database: str) -> AsyncIterator[Database]:
    await _truncate_pg(pg_database)
    database = Database(pg_database)
    yield database
    await database.close()


def _keeper(lease_db: Database, clock: ManualClock) -> tuple[LeaseKeeper, Holder]:
    identity = NodeIdentity(id="a", url=None, version="test", capacity=100, lease=LEASE)
    holder = Holder()
    return LeaseKeeper(lease_db, clock, NodeRegistry(lease_db, identity), holder), holder


@asynccontextmanager
async def _connections_locked(url: str) -> AsyncIterator[asyncpg.Connection]:
    """Another session holds ``connections`` in EXCLUSIVE mode: plain reads pass (the
    heartbeat and the keeper's reads go through), row locks and writes wait (a claim)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    tx = conn.transaction()
    await tx.start()
    await conn.execute("LOCK TABLE connections IN EXCLUSIVE MODE")
    try:
        yield conn
    finally:
        await tx.rollback()
        await conn.close()


async def _waiting(conn: asyncpg.Connection) -> int:
    """Sessions of this database waiting for a lock on ``connections``."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE NOT granted"
            " AND relation = 'connections'::regclass"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    )


def _blocked(conn: asyncpg.Connection, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _waiting(conn) == count

    return check


def _no_round(keeper: LeaseKeeper) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return keeper._round is None

    return check


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for PostgreSQL's own state (its backends do not follow the manual clock)."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def _rows(db: Database) -> dict[str, Any]:
    """What the node could have written: leases, and its heartbeat."""
    async with db.read() as s:
        leases = (
            await s.execute(
                select(ConnectionRow.id, ConnectionRow.node_id, ConnectionRow.lease_epoch)
            )
        ).all()
        heartbeats = (await s.execute(select(NodeRow.id, NodeRow.heartbeat_at))).all()
    return {
        "leases": {cid: (node, epoch) for cid, node, epoch in leases},
        "heartbeats": dict(heartbeats),
    }


async def _next_round(keeper: LeaseKeeper, clock: ManualClock) -> None:
    """Move the clock to the keeper's next round and wait until that round has gone
    through (it may finish while the clock is moved, or well after)."""
    before = keeper.rounds

    async def through() -> bool:
        return keeper.rounds > before and keeper._round is None

    await clock.advance(keeper.interval)
    await _until(through, "the next round to go through")


async def test_a_round_stuck_on_a_lock_closes_the_sessions_before_the_lease_ends(
    db: Database, pg_database: str
) -> None:
    clock = ManualClock()
    first = await _connections(db, clock, 2)
    # A statement timeout far longer than the test: only the watchdog can end this round.
    lease_db = Database(pg_database, pool_size=2, max_overflow=0, query_timeout=60)
    a, holder = _keeper(lease_db, clock)
    await a.start()
    try:
        assert holder.running == dict.fromkeys(first, 1)
        (extra,) = await _connections(db, clock, 1)  # unowned: the next round claims it
        async with _connections_locked(pg_database) as locker:
            await clock.advance(a.interval)
            renewed = clock.monotonic()  # the round's heartbeat goes through...
            await _until(_blocked(locker, 1), "the claim to wait on the lock")
            # ...and its claim waits on the lock.
            assert holder.let_go_calls == []
            silent = await _rows(db)

            await clock.advance(a.deadline - 0.5)
            assert holder.let_go_calls == []  # within half a lease: nothing closed
            await clock.advance(0.5)
            # Half a lease after the renewal, the round still stuck: every session closed,
            # well before the lease ends (nobody may take the connections over yet).
            assert holder.let_go_calls == [sorted(first)]
            assert holder.running == {}
            assert clock.monotonic() - renewed == a.deadline < LEASE.total_seconds()
            async with db.read() as s:
                alive = await s.scalar(
                    select(NodeRow.heartbeat_at > func.now() - LEASE).where(NodeRow.id == "a")
                )
            assert alive
            # The round was abandoned: its statement is gone, the lock still held.
            await _until(_blocked(locker, 0), "the claim to be cancelled")
            await _until(_no_round(a), "the round to end")
        # The lock released: the abandoned round claims nothing, and nothing else is written.
        assert await _rows(db) == silent
        assert silent["leases"][extra] == (None, 0)

        # A round later the node is back: it gives its old leases up and claims everything
        # again, each with a new epoch.
        await _next_round(a, clock)
        assert holder.running == {**dict.fromkeys(first, 2), extra: 1}
        leases = (await _rows(db))["leases"]
        assert leases == {cid: ("a", epoch) for cid, epoch in holder.running.items()}
        # The watchdog watches again: rounds that renew keep the sessions.
        for _ in range(4):
            await _next_round(a, clock)
        assert holder.let_go_calls == [sorted(first)]
        assert len(holder.running) == 3
    finally:
        await a.close()
        await lease_db.close()


async def test_the_keepers_statements_time_out_so_a_stuck_round_fails_and_the_next_retries(
    db: Database, pg_database: str
) -> None:
    clock = ManualClock()
    first = await _connections(db, clock, 2)
    # The keeper's own database, as a node builds it: statements bounded by half a
    # lease (a one-second lease here: 0.5 s).
    lease_db = lease_database(db, timedelta(seconds=1))
    a, holder = _keeper(lease_db, clock)
    try:
        await a._registry.register()
        await a.round()
        assert holder.running == dict.fromkeys(first, 1)
        (extra,) = await _connections(db, clock, 1)
        async with _connections_locked(pg_database):
            # The bound only stops a broken build from hanging the suite.
            with pytest.raises(DBAPIError, match="statement timeout"):
                await asyncio.wait_for(a.round(), 30)
            # It failed in its claim, after the heartbeat: nothing claimed, nothing closed.
            assert (await _rows(db))["leases"][extra] == (None, 0)
            assert holder.running == dict.fromkeys(first, 1)
            assert holder.let_go_calls == []
        await a.round()  # the lock gone, the next round claims it
        assert holder.running == {**dict.fromkeys(first, 1), extra: 1}
    finally:
        await lease_db.close()


async def test_a_round_stuck_giving_the_old_leases_up_is_abandoned_too(
    db: Database, pg_database: str
) -> None:
    """Back after a cut-off, the round renews and then gives the old leases up
    (``register``); stuck there, it is abandoned at the deadline like any round, and
    the next one tries again."""
    clock = ManualClock()
    await _connections(db, clock, 1)
    lease_db = Database(pg_database, pool_size=2, max_overflow=0, query_timeout=60)
    a, holder = _keeper(lease_db, clock)
    await a.start()
    try:
        register = a._registry.register
        stuck: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        calls: list[str] = []

        async def hangs() -> None:
            calls.append("register")
            if len(calls) == 1:
                await stuck
            await register()

        a._registry.register = hangs  # type: ignore[method-assign]
        a._cut_off = True  # as after a silence
        await clock.advance(a.interval)
        await _until(lambda: _async(calls == ["register"]), "the round to hang in register")
        holder.running["created-meanwhile"] = 1  # a connection created through this node
        await clock.advance(a.deadline)
        await _until(_no_round(a), "the stuck round to be abandoned")
        assert stuck.cancelled()
        assert holder.running == {}  # what ran meanwhile was closed
        await clock.advance(a.interval)
        await _until(lambda: _async(calls == ["register", "register"]), "the next round")
        await _until(lambda: _async(not a._cut_off), "the old leases given up")
    finally:
        await a.close()
        await lease_db.close()


async def _async(value: bool) -> bool:
    return value
