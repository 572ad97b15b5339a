"""The event log's lock is the last lock a transaction takes (events/log.py).

A send outcome used to append ``message.sent`` (taking the log's advisory lock) and
then update its connection's ``last_activity_at``; the cluster's connection recorder
locks the connection row and then appends its events. Each waited for the other: a
deadlock PostgreSQL broke by aborting one (a lane died, its message stayed ``sending``).
Here a raw connection holds the connection row while the outcome is recorded: the
outcome must wait for the row *without* holding the log's lock, so any other event
writer can go on (before the fix, the log stayed locked until the row was free)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.conftest import Server
from tests.integration.messaging.kit import ready_connection, send, wait_status
from zapgate.events.log import _ADVISORY_KEY
from zapgate.outbox.outcomes import Outcomes
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import ManualClock


async def _blocked_on_a_lock(conn: asyncpg.Connection) -> bool:
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    return bool(waiting)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_send_outcome_waits_for_its_connection_row_before_locking_the_log(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    sent = await send(
        server.http, admin, {"connection_id": cid, "to": "+5511977770001", "text": "oi"}
    )
    await wait_status(server, admin, clock, sent["id"], "sent", "delivered", "read")
    async with server.runtime.db.write() as s:
        row = await s.get(MessageRow, sent["id"])
        assert row is not None
        row.status = "sending"  # as if the send were in flight again

    dsn = server.runtime.db.url.replace("postgresql+asyncpg://", "postgresql://")
    holder, probe = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM connections WHERE id = $1 FOR UPDATE", cid)
        outcome = asyncio.ensure_future(Outcomes(server.runtime.db).sent(sent["id"], clock.now()))
        for _ in range(500):
            if await _blocked_on_a_lock(probe):
                break
            await asyncio.sleep(0.01)  # a backend's wait: PostgreSQL's time, not the clock's
        else:
            raise AssertionError("the outcome never waited for the connection row")
        async with probe.transaction():
            free = await probe.fetchval("SELECT pg_try_advisory_xact_lock($1)", _ADVISORY_KEY)
        assert free, "the outcome holds the event log's lock while waiting for a row"
        await lock.rollback()
        recorded = await asyncio.wait_for(outcome, 10)
        assert recorded is not None
        assert recorded.status == "sent"
    finally:
        await holder.close()
        await probe.close()
