"""The supervisor on the manual clock: restore after a restart (staggered), the health
check, routing and removal. The simulator engine, and the recording fake engine where
sessions must stay unanswered (each such test says why)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.sessions.kit import (
    BACKOFF,
    PHONE,
    RecordingEngine,
    add_connection,
    kinds,
    load,
    simulator,
    statuses,
    until,
)
from zapgate.domain.errors import NotFound
from zapgate.domain.states import ConnectionState
from zapgate.engines.events import Connected, QrIssued
from zapgate.engines.simulator import SimulatorEngine
from zapgate.services.payloads import connection_status_payload
from zapgate.sessions.supervisor import RESTORE_SETTLE_TIMEOUT, Supervisor
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import ManualClock

S = ConnectionState
JID = f"{PHONE}@s.whatsapp.net"
HEALTH_INTERVAL = 60.0
MakeSupervisor = Callable[..., Supervisor]


@pytest.fixture
async def supervisors(db: Database, clock: ManualClock) -> AsyncIterator[MakeSupervisor]:
    """Builds supervisors on the test's database and clock; closes them at the end."""
    made: list[Supervisor] = []

    def make(engine: Any, **options: Any) -> Supervisor:
        values: dict[str, Any] = {
            "health_interval": HEALTH_INTERVAL,
            "restore_concurrency": 50,
            "restore_jitter": 0.0,
            "backoff": BACKOFF,
        } | options
        supervisor = Supervisor(
            engine=engine,
            db=db,
            clock=clock,
            status_payload=connection_status_payload,
            **values,
        )
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        await supervisor.close()


async def link(supervisor: Supervisor, clock: ManualClock, cid: str, phone: str) -> None:
    engine = supervisor.engine
    assert isinstance(engine, SimulatorEngine)
    runner = supervisor.get(cid)
    await runner.start()
    await until(lambda: runner.state is S.QR_READY, "a QR code")
    await engine.scan(cid, phone, push_name="Loja")
    await clock.advance(1)
    await until(lambda: runner.state is S.READY, "ready")


async def test_restore_is_staggered_by_concurrency_and_jitter(
    db: Database, clock: ManualClock, org_id: str, supervisors: MakeSupervisor
) -> None:
    """The fake engine: restored sessions must stay unanswered until the test answers
    them, to show how many dial at once (the simulator answers a resume at once)."""
    linked = [
        await add_connection(db, clock, org_id, f"L{i}", state="ready", linked=True, jid=JID)
        for i in range(4)
    ]
    waiting = await add_connection(db, clock, org_id, "Waiting", state="qr_ready")
    stopped = await add_connection(
        db, clock, org_id, "Stopped", state="disconnected", linked=True, jid=JID
    )
    engine = RecordingEngine(clock)
    supervisor = supervisors(
        engine, restore_concurrency=2, restore_jitter=10.0, rng=random.Random(7)
    )
    restarted = clock.monotonic()
    await supervisor.start()

    # Before anything dials, the linked active ones are reconnecting and the rest settled.
    for row in linked:
        stored = await load(db, row.id)
        assert (stored.state, stored.attempt, stored.next_retry_at) == (
            "reconnecting",
            0,
            clock.now(),
        )
        assert await kinds(db, row.id) == ["restoring"]
    lost = await load(db, waiting.id)
    assert (lost.state, lost.error_code) == ("disconnected", "server_restarted")
    assert (await load(db, stopped.id)).state == "disconnected"
    assert supervisor.restoring == 4

    # Each waits its own random delay, drawn in row order; two may dial at once.
    draws = random.Random(7)
    delays = {row.id: draws.uniform(0, 10.0) for row in linked}
    order = sorted(delays, key=lambda cid: delays[cid])
    await clock.advance(10.0)
    assert [cid for cid, _ in engine.opened] == order[:2]
    assert [at - restarted for _, at in engine.opened] == pytest.approx(
        [delays[cid] for cid in order[:2]]
    )

    # An answer frees a slot for the next one at once...
    engine.emit(Connected(order[0], JID, PHONE, "Loja"))
    await until(lambda: len(engine.opened) == 3, "the third dial")
    assert engine.opened[2] == (order[2], clock.monotonic())
    assert supervisor.get(order[0]).state is S.READY
    # ...and a session that never answers gives its slot up after the settle timeout.
    second_dialed = engine.opened[1][1]
    await clock.advance(second_dialed + RESTORE_SETTLE_TIMEOUT - clock.monotonic())
    await until(lambda: len(engine.opened) == 4, "the fourth dial")
    assert engine.opened[3] == (order[3], second_dialed + RESTORE_SETTLE_TIMEOUT)
    await clock.advance(RESTORE_SETTLE_TIMEOUT)
    assert supervisor.restoring == 0
    assert stopped.id not in [cid for cid, _ in engine.opened]


async def test_a_session_let_go_while_waiting_its_restore_is_not_opened(
    db: Database, clock: ManualClock, org_id: str, supervisors: MakeSupervisor
) -> None:
    """The fake engine: it records every session opened. A node that goes silent (or
    loses a lease) lets connections go whose staggered restore has not begun yet."""
    rows = [
        await add_connection(db, clock, org_id, f"L{i}", state="ready", linked=True, jid=JID)
        for i in range(3)
    ]
    engine = RecordingEngine(clock)
    supervisor = supervisors(engine, restore_jitter=10.0, rng=random.Random(7))
    await supervisor.start()
    gone = [rows[0].id, rows[2].id]
    await supervisor.let_go(gone)
    await clock.advance(10.0)
    assert [cid for cid, _ in engine.opened] == [rows[1].id]
    assert supervisor.restoring == 1  # the one kept, waiting for the engine's answer


async def test_a_restored_session_writes_nothing_until_the_engine_answers(
    db: Database,
    clock: ManualClock,
    org_id: str,
    tmp_path: Path,
    supervisors: MakeSupervisor,
) -> None:
    row = await add_connection(db, clock, org_id)
    first = supervisors(simulator(tmp_path, clock))
    await first.start()
    await link(first, clock, row.id, PHONE)
    await first.close()
    assert (await load(db, row.id)).state == "ready"  # left for the next start

    second = supervisors(simulator(tmp_path, clock))  # same network: the device is linked
    await second.start()
    runner = second.get(row.id)
    await until(lambda: runner.state is S.READY, "restored")
    assert await statuses(db, row.id) == [
        "initializing",
        "qr_ready",
        "authenticated",
        "ready",
        "reconnecting",
        "ready",
    ]
    assert (await kinds(db, row.id))[-2:] == ["restoring", "connected"]


async def test_the_health_check_repairs_a_silent_session(
    db: Database,
    clock: ManualClock,
    org_id: str,
    tmp_path: Path,
    supervisors: MakeSupervisor,
) -> None:
    alive = await add_connection(db, clock, org_id, "Alive")
    silent = await add_connection(db, clock, org_id, "Silent")
    engine = simulator(tmp_path, clock)
    supervisor = supervisors(engine)
    await supervisor.start()
    await link(supervisor, clock, alive.id, PHONE)
    await link(supervisor, clock, silent.id, "5511999990002")
    await engine.silence(silent.id)

    checks = supervisor.health_checks
    before = clock.now()
    await clock.advance(1)
    # One pass, run here rather than by the loop, so the clock stands still while the
    # silent session is repaired (its reconnect waits on the clock).
    await supervisor.check_health()
    assert supervisor.health_checks == checks + 1
    repaired = supervisor.get(silent.id)
    assert repaired.state is S.RECONNECTING
    row = await load(db, silent.id)
    assert row.error_message == "health check: the session stopped answering"
    seen = (await load(db, alive.id)).last_seen_at
    assert seen is not None
    assert before < seen == clock.now()
    assert supervisor.get(alive.id).state is S.READY

    await clock.advance(BACKOFF.min_delay)
    await until(lambda: repaired.state is S.READY, "reconnected")


async def test_events_are_routed_to_their_runner_and_removal_deletes_the_session(
    db: Database, clock: ManualClock, org_id: str, supervisors: MakeSupervisor
) -> None:
    """The fake engine: it emits events for a session the supervisor does not know."""
    row = await add_connection(db, clock, org_id)
    engine = RecordingEngine(clock)
    supervisor = supervisors(engine)
    await supervisor.start()
    expires = clock.now()
    engine.emit(QrIssued("unknown", "2@x", expires, 1, 6))  # dropped, nothing fails
    await supervisor.get(row.id).start()
    engine.emit(QrIssued(row.id, "2@x", expires, 1, 6))
    await until(lambda: supervisor.states()[row.id] is S.QR_READY, "the QR code")

    await supervisor.remove(row.id)
    assert ("delete_session", row.id) in engine.calls
    with pytest.raises(NotFound):
        supervisor.get(row.id)
    assert len(supervisor) == 0


async def test_close_stops_the_sessions_and_keeps_their_states(
    db: Database,
    clock: ManualClock,
    org_id: str,
    tmp_path: Path,
    supervisors: MakeSupervisor,
) -> None:
    row: ConnectionRow = await add_connection(db, clock, org_id)
    engine = simulator(tmp_path, clock)
    supervisor = supervisors(engine)
    await supervisor.start()
    await link(supervisor, clock, row.id, PHONE)
    await supervisor.close()
    assert engine.phase(row.id) is None
    assert (await load(db, row.id)).state == "ready"
    assert clock.pending == 0
