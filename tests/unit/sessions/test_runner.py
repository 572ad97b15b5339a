"""One runner on the manual clock with the simulator engine; the recording fake engine
only where a hang or a failure must be injected (each such test says why)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.conftest import eventually
from tests.unit.sessions.kit import (
    BACKOFF,
    PHONE,
    RecordingEngine,
    add_connection,
    connection_log,
    events,
    kinds,
    load,
    simulator,
    statuses,
    until,
)
from zapgate.domain.errors import Conflict, EngineError
from zapgate.domain.states import ConnectionState
from zapgate.engines.events import Connected, Disconnected
from zapgate.engines.simulator import Phase
from zapgate.engines.simulator.lifecycle import LOGGED_OUT_FROM_PHONE
from zapgate.services.payloads import connection_status_payload
from zapgate.sessions.recorder import ConnectionRecorder
from zapgate.sessions.runner import Runner, RunsElsewhere
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import ManualClock
from zapgate.util.tasks import TaskOwner

S = ConnectionState
JID = f"{PHONE}@s.whatsapp.net"


@dataclass
class Rig:
    db: Database
    clock: ManualClock
    engine: Any
    owner: TaskOwner
    runner: Runner

    @property
    def cid(self) -> str:
        return self.runner.connection_id

    async def reach(self, state: ConnectionState) -> None:
        await until(lambda: self.runner.state is state, f"state {state}")

    async def logged(self, kind: str, times: int = 1) -> None:
        """Wait until the connection's log holds ``times`` lines of ``kind``."""

        async def done() -> bool:
            return (await kinds(self.db, self.cid)).count(kind) == times

        await eventually(done, what=f"{times} x {kind}")

    def retry_timers(self) -> int:
        name = f"test:retry:{self.cid}"
        return sum(1 for task in self.owner.tasks if task.get_name() == name)


@asynccontextmanager
async def rigged(
    db: Database, clock: ManualClock, engine: Any, row: ConnectionRow
) -> AsyncIterator[Rig]:
    owner = TaskOwner("test")
    recorder = ConnectionRecorder(db, clock, connection_status_payload)
    runners: dict[str, Runner] = {}
    await engine.start(lambda event: runners[event.session_id].deliver(event))
    runner = Runner(
        row,
        engine=engine,
        recorder=recorder,
        clock=clock,
        backoff=BACKOFF,
        owner=owner,
        listeners=[],
    )
    runners[row.id] = runner
    try:
        yield Rig(db, clock, engine, owner, runner)
    finally:
        await runner.close()
        await owner.cancel_all()
        await recorder.close()
        await engine.close()
    assert owner.failures == 0


@pytest.fixture
async def rig(db: Database, clock: ManualClock, org_id: str, tmp_path: Path) -> AsyncIterator[Rig]:
    row = await add_connection(db, clock, org_id)
    async with rigged(db, clock, simulator(tmp_path, clock), row) as made:
        yield made


@pytest.fixture
async def fake(db: Database, clock: ManualClock, org_id: str) -> AsyncIterator[Rig]:
    row = await add_connection(db, clock, org_id)
    async with rigged(db, clock, RecordingEngine(clock), row) as made:
        yield made


async def link(rig: Rig) -> None:
    await rig.runner.start()
    await rig.reach(S.QR_READY)
    await rig.engine.scan(rig.cid, PHONE, push_name="Loja")
    await rig.reach(S.AUTHENTICATED)
    await rig.clock.advance(1)  # the phone syncs for a second
    await rig.reach(S.READY)


async def test_start_shows_a_qr_code_and_a_scan_makes_it_ready(rig: Rig) -> None:
    await rig.runner.start()
    assert rig.runner.state is S.INITIALIZING  # the engine reports the QR code later
    await rig.reach(S.QR_READY)
    assert rig.runner.qr is not None
    assert rig.runner.qr.index == 1
    await rig.engine.scan(rig.cid, PHONE, push_name="Loja")
    await rig.reach(S.AUTHENTICATED)
    assert rig.runner.qr is None
    assert rig.runner.linked
    await rig.clock.advance(1)
    await rig.reach(S.READY)

    row = await load(rig.db, rig.cid)
    device = rig.engine.linked_account(rig.cid)
    assert (row.state, row.phone, row.push_name, row.linked, row.jid) == (
        "ready",
        PHONE,
        "Loja",
        True,
        device.jid,
    )
    assert row.connected_at == rig.clock.now()
    assert await kinds(rig.db, rig.cid) == ["starting", "qr", "paired", "connected"]
    assert await statuses(rig.db, rig.cid) == ["initializing", "qr_ready", "authenticated", "ready"]
    published = await events(rig.db, rig.cid, "connection.status")
    assert [e.data["previous_state"] for e in published] == [
        "idle",
        "initializing",
        "qr_ready",
        "authenticated",
    ]


async def test_qr_codes_rotate_and_the_state_is_published_once(rig: Rig) -> None:
    await rig.runner.start()
    await rig.logged("qr")
    for count, wait in enumerate((60, 20, 20, 20, 20), start=2):
        await rig.clock.advance(wait)
        await rig.logged("qr", count)
    assert len(await events(rig.db, rig.cid, "connection.qr")) == 6
    assert await statuses(rig.db, rig.cid) == ["initializing", "qr_ready"]

    await rig.clock.advance(20)  # the last code runs out
    await rig.reach(S.DISCONNECTED)
    assert rig.runner.qr is None
    assert rig.runner.qr_expired
    assert (await load(rig.db, rig.cid)).error_code == "qr_timeout"
    assert await statuses(rig.db, rig.cid) == ["initializing", "qr_ready", "disconnected"]


async def test_a_duplicate_ready_report_is_logged_but_not_published(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await link(rig)
    published = await statuses(rig.db, rig.cid)
    # ready → initializing is refused, the session reopens, and ready comes again.
    await rig.runner.reconnect()
    await rig.logged("connected", 2)
    assert rig.runner.state is S.READY
    assert await statuses(rig.db, rig.cid) == published
    assert "ignored illegal transition" in caplog.messages


async def test_a_drop_reconnects_with_backoff_and_never_in_a_storm(rig: Rig) -> None:
    await link(rig)
    await rig.engine.set_network(False)  # drops the session; every dial fails meanwhile
    await rig.reach(S.RECONNECTING)
    dropped = rig.clock.now()
    row = await load(rig.db, rig.cid)
    assert (row.attempt, row.next_retry_at, row.disconnected_at) == (
        1,
        dropped + timedelta(seconds=2),
        dropped,
    )
    for attempt, wait in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0)):
        # Until the retry is due nothing dials, and one timer waits.
        await rig.clock.advance(wait - 0.5)
        assert (await load(rig.db, rig.cid)).attempt == attempt
        assert rig.retry_timers() == 1
        await rig.clock.advance(0.5)

        async def failed_again(n: int = attempt + 1) -> bool:
            return (await load(rig.db, rig.cid)).attempt == n

        await eventually(failed_again, what=f"attempt {attempt + 1}")
    retries = [
        line.created_at for line in await connection_log(rig.db, rig.cid) if line.kind == "starting"
    ][1:]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise([dropped, *retries])]
    assert gaps == [2.0, 4.0, 8.0, 16.0]
    row = await load(rig.db, rig.cid)
    assert row.next_retry_at == rig.clock.now() + timedelta(seconds=32)

    await rig.engine.set_network(True)
    await rig.clock.advance(32)
    await rig.reach(S.READY)
    row = await load(rig.db, rig.cid)
    assert (row.attempt, row.next_retry_at, row.error_message) == (0, None, None)
    assert rig.retry_timers() == 0


async def test_a_retry_keeps_to_the_time_its_status_shows(rig: Rig) -> None:
    """Time that passes while the reconnecting status is written does not push the retry
    later than the ``next_retry_at`` that status published."""
    await link(rig)
    recorder = rig.runner._recorder
    record = recorder.record

    async def slow_record(cid: str, change: Any, **kw: Any) -> Any:
        if change.state is S.RECONNECTING:
            await rig.clock.advance(1.5)  # the write takes a while (a busy database)
        return await record(cid, change, **kw)

    recorder.record = slow_record  # type: ignore[method-assign]
    await rig.engine.set_network(False)
    await rig.reach(S.RECONNECTING)
    row = await load(rig.db, rig.cid)
    assert row.next_retry_at is not None
    due = row.next_retry_at
    assert (due - rig.clock.now()).total_seconds() == pytest.approx(0.5)
    await rig.clock.advance(0.5)

    async def retried() -> bool:
        return (await load(rig.db, rig.cid)).attempt == 2

    await eventually(retried, what="the retry at its published time")


async def test_a_failed_health_check_reopens_a_silent_session(rig: Rig) -> None:
    await link(rig)
    await rig.engine.silence(rig.cid)
    assert rig.runner.state is S.READY  # it still claims to be
    await rig.runner.health_failed("health check: the session stopped answering")
    assert rig.runner.state is S.RECONNECTING
    row = await load(rig.db, rig.cid)
    assert (row.attempt, row.error_message) == (1, "health check: the session stopped answering")
    await rig.clock.advance(2)
    await rig.reach(S.READY)
    assert await rig.engine.ping(rig.cid)


async def test_a_health_check_failure_is_ignored_unless_ready(rig: Rig) -> None:
    await rig.runner.start()
    await rig.reach(S.QR_READY)
    await rig.runner.health_failed("health check: the session stopped answering")
    assert rig.runner.state is S.QR_READY
    assert await kinds(rig.db, rig.cid) == ["starting", "qr"]


async def test_logout_from_the_phone_needs_a_new_qr_code(rig: Rig) -> None:
    await link(rig)
    await rig.engine.logout_from_phone(rig.cid)
    await rig.reach(S.LOGGED_OUT)
    row = await load(rig.db, rig.cid)
    assert (row.linked, row.jid, row.error_message) == (False, None, LOGGED_OUT_FROM_PHONE)
    assert not rig.runner.linked
    await rig.clock.advance(600)
    assert rig.runner.state is S.LOGGED_OUT  # nothing retries
    assert rig.retry_timers() == 0
    await rig.runner.start()
    await rig.reach(S.QR_READY)


async def test_a_ban_is_an_error_with_its_code_and_is_not_retried(rig: Rig) -> None:
    await link(rig)
    await rig.engine.ban(rig.cid, 3600)
    await rig.reach(S.ERROR)
    row = await load(rig.db, rig.cid)
    assert row.error_code == "temporary_ban"
    assert row.error_message is not None
    assert "(code 101) until 2026-01-01T13:00+00:00" in row.error_message
    await rig.clock.advance(600)
    assert rig.runner.state is S.ERROR
    assert rig.retry_timers() == 0
    await rig.runner.start()  # still banned: WhatsApp refuses it again
    await rig.logged("error", 2)
    assert rig.runner.state is S.ERROR


async def test_a_stop_while_dialing_leaves_nothing_running(rig: Rig) -> None:
    await rig.runner.start()
    assert rig.engine.phase(rig.cid) is Phase.STARTING  # dialing: no QR code yet
    await rig.runner.stop()
    assert rig.runner.state is S.DISCONNECTED
    assert rig.engine.phase(rig.cid) is None
    await rig.clock.advance(200)  # the QR rotation and its timeout would have run by now
    assert await kinds(rig.db, rig.cid) == ["starting", "stopped"]
    assert await statuses(rig.db, rig.cid) == ["initializing", "disconnected"]
    assert rig.clock.pending == 0


async def test_a_stop_waits_for_a_hanging_dial_then_closes_it(fake: Rig) -> None:
    """The fake engine: the simulator's open returns at once, and this shows a stop
    waiting for a dial that hangs (as neonize's can) instead of racing it."""
    fake.engine.dialing = asyncio.Event()
    starting = asyncio.ensure_future(fake.runner.start())
    await until(lambda: fake.engine.opened, "the dial")
    stopping = asyncio.ensure_future(fake.runner.stop())
    await fake.clock.advance(0)
    assert not stopping.done()
    assert fake.runner.state is S.INITIALIZING
    fake.engine.dialing.set()
    await starting
    await stopping
    assert fake.engine.calls == [("open", fake.cid), ("close_session", fake.cid)]
    assert fake.runner.state is S.DISCONNECTED


async def test_an_engine_report_after_a_stop_is_refused(
    fake: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The fake engine: it reports ``Connected`` after the stop, which the simulator
    never does (closing its session ends the session's timers)."""
    await fake.runner.start()
    await fake.runner.stop()
    fake.engine.emit(Connected(fake.cid, JID, PHONE, "Loja"))
    await until(lambda: "ignored illegal transition" in caplog.messages, "the refusal")
    assert fake.runner.state is S.DISCONNECTED
    assert await kinds(fake.db, fake.cid) == ["starting", "stopped"]
    assert caplog.records[-1].levelno == logging.WARNING


async def test_a_failed_dial_retries_and_a_permanent_failure_stops(fake: Rig) -> None:
    """The fake engine: the simulator's ``open_session`` only fails when misused; here
    the dial itself fails, first transiently, then for good."""
    fake.engine.open_error = EngineError("timeout", "dial timed out")
    await fake.runner.start()
    assert fake.runner.state is S.RECONNECTING
    assert fake.engine.calls == [("open", fake.cid), ("close_session", fake.cid)]
    row = await load(fake.db, fake.cid)
    assert (row.attempt, row.error_message) == (1, "dial timed out")

    fake.engine.open_error = EngineError("store_broken", "the store is unreadable", permanent=True)
    await fake.clock.advance(2)
    await fake.reach(S.ERROR)
    row = await load(fake.db, fake.cid)
    assert (row.error_code, row.error_message, row.next_retry_at) == (
        "store_broken",
        "the store is unreadable",
        None,
    )
    await fake.clock.advance(600)
    assert len(fake.engine.opened) == 2


async def test_a_pairing_code_is_refused_when_linking_cannot_start(fake: Rig) -> None:
    """The fake engine: a dial that fails for good is needed to leave no linking state."""
    fake.engine.open_error = EngineError("store_broken", "the store is unreadable", permanent=True)
    with pytest.raises(Conflict) as caught:
        await fake.runner.pairing_code(PHONE)
    assert caught.value.code == "not_linking"
    assert fake.runner.state is S.ERROR


async def test_a_pairing_code_links_without_a_qr_code(rig: Rig) -> None:
    code = await rig.runner.pairing_code(PHONE)
    assert rig.runner.state is S.PAIRING_CODE_READY
    assert rig.runner.pairing == code
    [issued] = await events(rig.db, rig.cid, "connection.pairing_code")
    assert issued.data["code"] == code.code
    await rig.engine.enter_pairing_code(rig.cid, code.code, push_name="Loja")
    await rig.reach(S.AUTHENTICATED)
    await rig.clock.advance(1)
    await rig.reach(S.READY)
    with pytest.raises(Conflict) as caught:
        await rig.runner.pairing_code(PHONE)
    assert caught.value.code == "already_linked"


async def test_logout_needs_a_linked_device(rig: Rig) -> None:
    with pytest.raises(Conflict) as caught:
        await rig.runner.logout()
    assert caught.value.code == "not_linked"
    assert await kinds(rig.db, rig.cid) == []


async def test_delete_while_a_qr_code_is_shown_stops_everything(rig: Rig) -> None:
    await rig.runner.start()
    await rig.reach(S.QR_READY)
    await rig.runner.delete()
    assert rig.runner.deleted
    assert rig.engine.phase(rig.cid) is None
    await rig.clock.advance(200)
    assert await kinds(rig.db, rig.cid) == ["starting", "qr"]
    assert rig.clock.pending == 0


def _failing_once(rig: Rig, state: ConnectionState) -> list[ConnectionState]:
    """The recorder's next write of ``state`` fails as a dropped database connection
    does; answers the states whose write failed."""
    recorder = rig.runner._recorder
    record = recorder.record
    failed: list[ConnectionState] = []

    async def flaky(cid: str, change: Any, **kw: Any) -> Any:
        if change.state is state and not failed:
            failed.append(state)
            raise OperationalError("UPDATE connections", {}, OSError("connection was closed"))
        return await record(cid, change, **kw)

    recorder.record = flaky  # type: ignore[method-assign]
    return failed


async def _dropped(fake: Rig) -> None:
    """Connected, then dropped: reconnecting, its retry due in 2 s."""
    await fake.runner.start()
    fake.engine.emit(Connected(fake.cid, JID, PHONE, "Loja"))
    await fake.reach(S.READY)
    fake.engine.emit(Disconnected(fake.cid, "stream closed"))
    await fake.reach(S.RECONNECTING)
    assert fake.retry_timers() == 1


async def test_a_retry_whose_write_fails_is_retried_after_the_backoff(fake: Rig) -> None:
    """The fake engine: it reports at chosen moments. The retry's ``initializing`` write
    fails (the database restarted): the connection is not left reconnecting with no
    timer (``Disconnected`` is ignored there, the health check pings only ``ready``)."""
    await _dropped(fake)
    failed = _failing_once(fake, S.INITIALIZING)
    await fake.clock.advance(2)
    await fake.logged("reconnecting", 2)  # the new plan's status, written
    assert failed
    assert fake.retry_timers() == 1
    assert fake.runner.state is S.RECONNECTING
    assert len(fake.engine.opened) == 1  # nothing dialed without its state written
    row = await load(fake.db, fake.cid)
    assert (row.state, row.attempt) == ("reconnecting", 2)
    await fake.clock.advance(4)  # the usual backoff: the second retry after 4 s
    await fake.reach(S.INITIALIZING)
    assert len(fake.engine.opened) == 2
    fake.engine.emit(Connected(fake.cid, JID, PHONE, "Loja"))
    await fake.reach(S.READY)
    assert fake.retry_timers() == 0


async def test_a_ready_write_that_fails_closes_the_session_and_retries(fake: Rig) -> None:
    """The fake engine: ``Connected`` after a retry, whose ``ready`` write fails."""
    await _dropped(fake)
    await fake.clock.advance(2)
    await fake.reach(S.INITIALIZING)
    failed = _failing_once(fake, S.READY)
    fake.engine.emit(Connected(fake.cid, JID, PHONE, "Loja"))
    await until(lambda: failed and fake.runner.state is S.RECONNECTING, "the new plan")
    assert fake.retry_timers() == 1
    assert fake.engine.calls[-1] == ("close_session", fake.cid)
    await fake.clock.advance(2)
    await fake.reach(S.INITIALIZING)
    fake.engine.emit(Connected(fake.cid, JID, PHONE, "Loja"))
    await fake.reach(S.READY)
    assert (await load(fake.db, fake.cid)).state == "ready"


async def test_work_waiting_for_the_lock_opens_no_session_once_the_runner_is_closed(
    fake: Rig,
) -> None:
    """A connection let go (handed over, its lease lost) while a start carried from
    another node waited for the runner: the new owner runs its session, not this one."""
    fake.engine.dialing = asyncio.Event()
    first = asyncio.ensure_future(fake.runner.start())
    await until(lambda: fake.engine.opened, "the first dial")
    waiting = asyncio.ensure_future(fake.runner.reconnect())  # queued behind the dial
    await fake.clock.advance(0)
    await fake.runner.close()
    fake.engine.dialing.set()
    await first
    # The command is refused as for a connection another node runs: it is carried there.
    with pytest.raises(RunsElsewhere):
        await waiting
    # The dial that was under way when the runner closed is closed once it ends.
    assert fake.engine.calls == [("open", fake.cid), ("close_session", fake.cid)]


async def test_a_retry_is_not_lost_when_the_reconnecting_write_fails_too(fake: Rig) -> None:
    """The fake engine: ``Connected`` after a retry, whose ``ready`` write fails, and
    then the ``reconnecting`` write of the new plan fails as well (the database is
    still away): the retry comes all the same and dials again."""
    await _dropped(fake)
    await fake.clock.advance(2)
    await fake.reach(S.INITIALIZING)
    recorder = fake.runner._recorder
    record = recorder.record
    failing = {S.READY, S.RECONNECTING}

    async def flaky(cid: str, change: Any, **kw: Any) -> Any:
        if change.state in failing:
            failing.discard(change.state)
            raise OperationalError("UPDATE connections", {}, OSError("connection was closed"))
        return await record(cid, change, **kw)

    recorder.record = flaky  # type: ignore[method-assign]
    opened = len(fake.engine.opened)
    fake.engine.emit(Connected(fake.cid, JID, PHONE, "Loja"))
    await until(lambda: not failing and fake.runner.state is S.RECONNECTING, "the new plan")
    assert fake.retry_timers() == 1
    await fake.clock.advance(5)
    await until(lambda: len(fake.engine.opened) == opened + 1, "the retry's dial")
    fake.engine.emit(Connected(fake.cid, JID, PHONE, "Loja"))
    await fake.reach(S.READY)
    assert (await load(fake.db, fake.cid)).state == "ready"


async def test_a_closed_runner_refuses_a_delete_and_lets_waiters_go(fake: Rig) -> None:
    """A delete that reaches a runner let go is carried to the owner, not half done
    (the row deleted, the device left linked); a restore waiting for the runner to
    settle stops waiting."""
    fake.engine.dialing = asyncio.Event()
    starting = asyncio.ensure_future(fake.runner.start())
    await until(lambda: fake.engine.opened, "the dial")
    settled = asyncio.ensure_future(fake.runner.wait_settled(3600))
    await fake.runner.close()
    await asyncio.wait({settled}, timeout=5)  # real time: only if this regresses
    assert settled.done()  # without the clock moving
    fake.engine.dialing.set()
    await starting
    with pytest.raises(RunsElsewhere):
        await fake.runner.delete()
