"""The connection recorder on both databases: what one change writes, the group commit,
and failures that leave nothing half-written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.unit.sessions.kit import PHONE, add_connection, connection_log, events, load
from zapgate.domain.events import EventType
from zapgate.domain.states import ConnectionState
from zapgate.services.payloads import connection_status_payload
from zapgate.sessions.recorder import ConnectionRecorder
from zapgate.sessions.steps import Change
from zapgate.store.db import Database
from zapgate.util.clock import ManualClock

S = ConnectionState
STARTING = Change(kind="starting", message="started", state=S.INITIALIZING)


class FailingCommitDatabase(Database):
    """The real database whose next ``fail_next`` writes fail after their statements
    have run, as a commit does when the disk fills or the connection drops: the recorder
    must leave nothing of such a transaction behind. (No real table can be made to fail
    there.)"""

    fail_next = 0

    @asynccontextmanager
    async def write(self, *, in_loop: bool = False) -> AsyncIterator[AsyncSession]:
        async with super().write(in_loop=in_loop) as session:
            yield session
            if self.fail_next:
                self.fail_next -= 1
                await session.flush()
                raise OSError("disk full")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = FailingCommitDatabase(database_url)
    yield database
    await database.close()


@pytest.fixture
def commits(db: Database) -> list[list[Any]]:
    """The events of every commit, one list per transaction that wrote events."""
    seen: list[list[Any]] = []
    db.on_commit(lambda written: seen.append(list(written)))
    return seen


@pytest.fixture
async def recorder(db: Database, clock: ManualClock) -> AsyncIterator[ConnectionRecorder]:
    made = ConnectionRecorder(db, clock, connection_status_payload)
    yield made
    await made.close()


async def test_a_state_change_writes_row_log_line_and_events_in_one_transaction(
    db: Database,
    clock: ManualClock,
    org_id: str,
    recorder: ConnectionRecorder,
    commits: list[list[Any]],
) -> None:
    row = await add_connection(db, clock, org_id, state="initializing")
    change = Change(
        kind="connected",
        message="connected to WhatsApp",
        state=S.READY,
        fields={"phone": PHONE, "connected_at": clock.now(), "attempt": 0},
        log_data={"via": "test"},
        events=((EventType.CONNECTION_QR, {"index": 1}),),
    )
    written = await recorder.record(row.id, change)
    assert written is not None
    assert written.state == "ready"

    stored = await load(db, row.id)
    assert (stored.state, stored.phone, stored.updated_at) == ("ready", PHONE, clock.now())
    [line] = await connection_log(db, row.id)
    assert (line.kind, line.state, line.message, line.data) == (
        "connected",
        "ready",
        "connected to WhatsApp",
        {"via": "test"},
    )
    status, extra = await events(db, row.id)
    assert status.type == "connection.status"
    # The status as GET /connections/{id}/status shows it (UTC written "+00:00" here).
    assert status.data == {
        "state": "ready",
        "phone": PHONE,
        "push_name": None,
        "connected_at": "2026-01-01T12:00:00+00:00",
        "last_seen_at": None,
        "error_code": None,
        "error_message": None,
        "attempt": 0,
        "next_retry_at": None,
        "previous_state": "initializing",
        "reason": "connected to WhatsApp",
    }
    assert (extra.type, extra.data) == ("connection.qr", {"index": 1})
    assert [len(c) for c in commits] == [2]


async def test_staying_in_a_state_is_written_but_not_published(
    db: Database, clock: ManualClock, org_id: str, recorder: ConnectionRecorder
) -> None:
    row = await add_connection(db, clock, org_id, state="ready")
    await recorder.record(row.id, Change(kind="connected", state=S.READY))
    await recorder.record(row.id, Change(kind="keepalive_timeout"))
    await recorder.record(
        row.id, Change(kind="seen", fields={"last_seen_at": clock.now()}, log=False)
    )
    assert [line.kind for line in await connection_log(db, row.id)] == [
        "connected",
        "keepalive_timeout",
    ]
    assert await events(db, row.id) == []
    assert (await load(db, row.id)).last_seen_at == clock.now()


async def test_a_deleted_connection_is_answered_with_none(
    db: Database, recorder: ConnectionRecorder, commits: list[list[Any]]
) -> None:
    assert await recorder.record("gone", STARTING) is None
    assert commits == []


async def test_changes_recorded_together_share_one_transaction(
    db: Database,
    clock: ManualClock,
    org_id: str,
    recorder: ConnectionRecorder,
    commits: list[list[Any]],
) -> None:
    rows = [await add_connection(db, clock, org_id, f"C{i}") for i in range(3)]
    written = await asyncio.gather(*(recorder.record(r.id, STARTING) for r in rows))
    assert [w.state for w in written if w is not None] == ["initializing"] * 3
    assert [len(c) for c in commits] == [3]


async def test_a_failed_commit_leaves_nothing_behind(
    db: FailingCommitDatabase,
    clock: ManualClock,
    org_id: str,
    recorder: ConnectionRecorder,
    commits: list[list[Any]],
) -> None:
    row = await add_connection(db, clock, org_id)
    change = Change(
        kind="qr",
        message="QR code 1 of 6 issued",
        state=S.QR_READY,
        fields={"error_code": "x"},
        events=((EventType.CONNECTION_QR, {"index": 1}),),
    )
    db.fail_next = 2  # its transaction, and the same change written again alone
    with pytest.raises(OSError, match="disk full"):
        await recorder.record(row.id, change)

    stored = await load(db, row.id)
    assert (stored.state, stored.error_code) == ("idle", None)
    assert await connection_log(db, row.id) == []
    assert await events(db, row.id) == []
    assert commits == []
    assert (await recorder.record(row.id, STARTING)) is not None  # the writer is not stuck
    assert [line.kind for line in await connection_log(db, row.id)] == ["starting"]


async def test_a_failed_shared_transaction_is_replayed_one_change_at_a_time(
    db: FailingCommitDatabase,
    clock: ManualClock,
    org_id: str,
    recorder: ConnectionRecorder,
    commits: list[list[Any]],
) -> None:
    rows = [await add_connection(db, clock, org_id, f"C{i}") for i in range(3)]
    db.fail_next = 1
    await asyncio.gather(*(recorder.record(r.id, STARTING) for r in rows))
    assert [len(c) for c in commits] == [1, 1, 1]
    for row in rows:
        assert [line.kind for line in await connection_log(db, row.id)] == ["starting"]
        assert len(await events(db, row.id)) == 1


async def test_a_bad_change_fails_alone(
    db: Database, clock: ManualClock, org_id: str, recorder: ConnectionRecorder
) -> None:
    good, bad, other = [await add_connection(db, clock, org_id, f"C{i}") for i in range(3)]
    broken = Change(kind="starting", state=S.INITIALIZING, fields={"name": None})
    answers = await asyncio.gather(
        recorder.record(good.id, STARTING),
        recorder.record(bad.id, broken),
        recorder.record(other.id, STARTING),
        return_exceptions=True,
    )
    assert isinstance(answers[1], IntegrityError)
    for row in (good, other):
        assert (await load(db, row.id)).state == "initializing"
        assert len(await events(db, row.id)) == 1
    stored = await load(db, bad.id)
    assert (stored.state, stored.name) == ("idle", "C1")
    assert await connection_log(db, bad.id) == []
    assert await events(db, bad.id) == []


async def test_record_many_applies_one_change_to_many_rows_in_one_transaction(
    db: Database,
    clock: ManualClock,
    org_id: str,
    recorder: ConnectionRecorder,
    commits: list[list[Any]],
) -> None:
    rows = [await add_connection(db, clock, org_id, f"C{i}", state="ready") for i in range(3)]
    change = Change(kind="restoring", state=S.RECONNECTING, fields={"attempt": 0})
    await recorder.record_many([r.id for r in rows] + ["gone"], change)
    assert [len(c) for c in commits] == [3]
    for row in rows:
        assert (await load(db, row.id)).state == "reconnecting"


async def test_at_shutdown_recorded_changes_are_written_and_later_ones_write_directly(
    db: Database, clock: ManualClock, org_id: str, commits: list[list[Any]]
) -> None:
    recorder = ConnectionRecorder(db, clock, connection_status_payload)
    first, second = [await add_connection(db, clock, org_id, f"C{i}") for i in range(2)]
    waiting = asyncio.ensure_future(recorder.record(first.id, STARTING))
    await asyncio.sleep(0)  # queued; the flusher is started but has not run
    await recorder.close()
    assert (await waiting) is not None
    assert (await load(db, first.id)).state == "initializing"
    # Closed, the recorder writes a change in the caller's own transaction.
    assert await recorder.record(second.id, STARTING) is not None
    assert (await load(db, second.id)).state == "initializing"
    assert [len(c) for c in commits] == [1, 1]
