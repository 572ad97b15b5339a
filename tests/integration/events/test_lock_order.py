"""The event log's lock is the last lock a transaction takes (events/log.py).

A send outcome used to append ``message.sent`` (taking the log's advisory lock) and
then update its connection's ``last_activity_at``; the cluster's connection recorder
locks the connection row and then appends its events. Each waited for the other: a
deadlock PostgreSQL broke by aborting one (a lane died, its message stayed ``sending``).
Here a raw connection holds the connection row while the outcome is recorded: the
outcome must wait for the row *without* holding the log's lock, so any other event
writer can go on (before the fix, the log stayed locked until the row was free).

The call recorder had the same fault within one transaction: a batch of calls appended
each call's events before writing the next call's rows, so a second caller's chat was
updated under the log's lock (the inbound recorder updates chats, then takes it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select

from tests.conftest import Server
from tests.integration.messaging.kit import ready_connection, send, wait_status
from zapgate.engines.events import CallReceived
from zapgate.events.log import _ADVISORY_KEY, list_events
from zapgate.outbox.outcomes import Outcomes
from zapgate.services.calls import CallRecorder
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import ManualClock


async def _blocked_on_a_lock(conn: asyncpg.Connection) -> bool:
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    return bool(waiting)


async def _log_free_while_blocked(probe: asyncpg.Connection, what: str) -> bool:
    """Wait until a backend waits for a row lock; whether the log's lock is free then."""
    for _ in range(500):
        if await _blocked_on_a_lock(probe):
            break
        await asyncio.sleep(0.01)  # a backend's wait: PostgreSQL's time, not the clock's
    else:
        raise AssertionError(f"{what} never waited for the row")
    async with probe.transaction():
        return bool(await probe.fetchval("SELECT pg_try_advisory_xact_lock($1)", _ADVISORY_KEY))


async def _in_flight(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> tuple[str, dict[str, Any]]:
    """A connection and a message it sent, put back to ``sending`` as if the send were
    in flight again (its outcome still to record)."""
    cid = await ready_connection(server, admin, clock)
    sent = await send(
        server.http, admin, {"connection_id": cid, "to": "+5511977770001", "text": "oi"}
    )
    await wait_status(server, admin, clock, sent["id"], "sent", "delivered", "read")
    async with server.runtime.db.write() as s:
        row = await s.get(MessageRow, sent["id"])
        assert row is not None
        row.status = "sending"
    return cid, sent


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_send_outcome_waits_for_its_connection_row_before_locking_the_log(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid, sent = await _in_flight(server, admin, clock)
    dsn = server.runtime.db.url.replace("postgresql+asyncpg://", "postgresql://")
    holder, probe = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM connections WHERE id = $1 FOR UPDATE", cid)
        outcome = asyncio.ensure_future(Outcomes(server.runtime.db).sent(sent["id"], clock.now()))
        free = await _log_free_while_blocked(probe, "the outcome")
        assert free, "the outcome holds the event log's lock while waiting for a row"
        await lock.rollback()
        recorded = await asyncio.wait_for(outcome, 10)
        assert recorded is not None
        assert recorded.status == "sent"
    finally:
        await holder.close()
        await probe.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_send_outcome_takes_its_connection_before_its_message_and_chat(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    """The recorders that check a lease share-lock the connection, then write messages
    and chats (services/fence.py). An outcome that wrote its message and chat first and
    its connection last deadlocked with them (PostgreSQL aborted one: the lane died)."""
    cid, sent = await _in_flight(server, admin, clock)
    dsn = server.runtime.db.url.replace("postgresql+asyncpg://", "postgresql://")
    recorder, probe = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        fenced = recorder.transaction()
        await fenced.start()
        await recorder.execute("SELECT 1 FROM connections WHERE id = $1 FOR SHARE", cid)
        outcome = asyncio.ensure_future(Outcomes(server.runtime.db).sent(sent["id"], clock.now()))
        await _log_free_while_blocked(probe, "the outcome")
        # The "recorder" now writes what the outcome touches (a receipt for the message,
        # its chat): it must not wait for the outcome.
        await asyncio.wait_for(
            recorder.execute("UPDATE messages SET status = status WHERE id = $1", sent["id"]), 5
        )
        await asyncio.wait_for(
            recorder.execute("UPDATE chats SET unread_count = 0 WHERE id = $1", sent["chat_id"]),
            5,
        )
        await fenced.commit()
        recorded = await asyncio.wait_for(outcome, 10)
        assert recorded is not None
        assert recorded.status == "sent"
    finally:
        await recorder.close()
        await probe.close()


def _call(cid: str, call_id: str, phone: str, at: datetime) -> CallReceived:
    return CallReceived(
        session_id=cid,
        call_id=call_id,
        caller_jid=f"{phone}@s.whatsapp.net",
        caller_phone=phone,
        timestamp=at,
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_batch_of_calls_writes_every_chat_before_locking_the_log(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    db = server.runtime.db
    async with db.read() as s:
        org = await s.scalar(select(ConnectionRow.organization_id).where(ConnectionRow.id == cid))
    assert org is not None
    recorder = CallRecorder(db, clock, on_accept=lambda _cid: None)
    at = datetime(2026, 1, 5, 12, tzinfo=UTC)
    ana, bia = "5511977770001", "5511977770002"
    await recorder(org, cid, [_call(cid, "CALL-B1", bia, at)])
    async with db.read() as s:
        chat_id = await s.scalar(select(ChatRow.id).where(ChatRow.jid == f"{bia}@s.whatsapp.net"))
    assert chat_id is not None

    dsn = db.url.replace("postgresql+asyncpg://", "postgresql://")
    holder, probe = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        lock = holder.transaction()
        await lock.start()
        # Bia's chat, as the inbound recorder holds it while it waits for the log.
        await holder.execute("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE", chat_id)
        calls = [_call(cid, "CALL-A1", ana, at), _call(cid, "CALL-B2", bia, at)]
        recorded = asyncio.ensure_future(recorder(org, cid, calls))
        free = await _log_free_while_blocked(probe, "the call recorder")
        assert free, "the call recorder holds the event log's lock while waiting for a chat"
        await lock.rollback()
        await asyncio.wait_for(recorded, 10)
    finally:
        await holder.close()
        await probe.close()
    async with db.read() as s:
        events = await list_events(s, organization_id=org, types=["call.received"])
    assert [e.data["call_id"] for e in events] == ["CALL-B1", "CALL-A1", "CALL-B2"]
