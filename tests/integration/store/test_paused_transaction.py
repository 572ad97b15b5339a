"""A process paused inside a transaction (a node stopped, frozen, its loop stuck) does
not stall the others: PostgreSQL ends its session after ``idle_in_transaction`` seconds
without a statement, which frees its locks, among them the event log's, which every
node's event-writing commits take (``events/log.py``)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import _truncate_pg
from zapgate.events.log import append_event
from zapgate.store.db import Database
from zapgate.util.clock import ManualClock


async def _append(db: Database, clock: ManualClock, label: str) -> None:
    async with db.write() as session:
        await append_event(
            session, organization_id="org", type="test", data={"who": label}, created_at=clock.now()
        )


async def test_a_transaction_paused_holding_the_log_lets_the_others_write(
    pg_database: str,
) -> None:
    await _truncate_pg(pg_database)
    clock = ManualClock()
    paused = Database(pg_database, idle_in_transaction=0.3)
    # The other node's statements give up after 5 s: long enough to outlast the pause's
    # end, short enough that a lock never freed fails this test rather than hanging it.
    other = Database(pg_database, query_timeout=5.0)
    resume = asyncio.Event()
    holding = asyncio.Event()

    async def pause_holding_the_log() -> None:
        async with paused.write() as session:
            await append_event(
                session, organization_id="org", type="test", data={}, created_at=clock.now()
            )
            holding.set()
            await resume.wait()  # the process "stopped" here, the log's lock taken

    stalled = asyncio.create_task(pause_holding_the_log())
    try:
        await holding.wait()
        started = time.monotonic()
        await _append(other, clock, "other node")
        # Freed by the server's timeout, not by the 5 s statement bound.
        assert time.monotonic() - started < 4.0
        resume.set()
        # Woken up, the paused one finds its transaction ended: nothing of it commits.
        with pytest.raises(DBAPIError, match="connection is closed"):
            await stalled
        async with other.read() as session:
            written = (await session.scalars(text("SELECT data->>'who' FROM events"))).all()
        assert written == ["other node"]
        # And its pool goes on working.
        await _append(paused, clock, "resumed")
    finally:
        resume.set()
        if not stalled.done():
            stalled.cancel()
        await paused.close()
        await other.close()
