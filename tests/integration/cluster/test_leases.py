"""Leases on a real PostgreSQL, in one process: fencing of the recorder's writes, the fair
spread of claims, and the silence of a node past its renewal deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import _truncate_pg
from tests.unit.sessions.kit import RecordingEngine, until
from zapgate.cluster.leases import Claim, LeaseKeeper
from zapgate.cluster.node import lease_database
from zapgate.cluster.nodes import NodeIdentity, NodeRegistry
from zapgate.domain.events import Event
from zapgate.domain.ids import new_id
from zapgate.domain.states import ConnectionState as S
from zapgate.engines.base import Engine
from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.events.log import event_hooks
from zapgate.services.payloads import connection_status_payload
from zapgate.sessions.recorder import ConnectionRecorder, LeaseLost
from zapgate.sessions.steps import Change
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.cluster import NodeRow
from zapgate.store.tables.connections import ConnectionEventRow, ConnectionRow
from zapgate.store.tables.events import EventRow
from zapgate.util.clock import ManualClock


@pytest.fixture
async def db(pg_database: str) -> AsyncIterator[Database]:
    await _truncate_pg(pg_database)
    database = Database(pg_database)
    yield database
    await database.close()


async def _connections(db: Database, clock: ManualClock, count: int, **values: object) -> list[str]:
    org = new_id()
    ids = [new_id() for _ in range(count)]
    async with db.write() as s:
        s.add(OrganizationRow(id=org, name=f"org-{org}", created_at=clock.now()))
        await s.flush()
        for i, cid in enumerate(ids):
            s.add(
                ConnectionRow(
                    id=cid,
                    organization_id=org,
                    name=f"c{i}",
                    state=S.IDLE.value,
                    created_at=clock.now(),
                    updated_at=clock.now(),
                    **values,
                )
            )
    return ids


async def test_a_write_with_a_lost_lease_writes_nothing(db: Database) -> None:
    clock = ManualClock()
    (cid,) = await _connections(db, clock, 1, node_id="a", lease_epoch=2)
    recorder = ConnectionRecorder(db, clock, connection_status_payload, node_id="a")
    change = Change(kind="connecting", message="starting", state=S.INITIALIZING)
    try:
        row = await recorder.record(cid, change, epoch=2)
        assert row is not None
        assert row.state == S.INITIALIZING.value
        # Another node claimed it (epoch 3): the old holder's next write is refused whole.
        async with db.write() as s:
            await s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == cid)
                .values(node_id="b", lease_epoch=3)
            )
        with pytest.raises(LeaseLost) as lost:
            await recorder.record(cid, Change(kind="ready", state=S.READY), epoch=2)
        assert lost.value.code == "lease_lost"
        # Nor may a stale epoch of the same node write.
        stale = ConnectionRecorder(db, clock, connection_status_payload, node_id="b")
        with pytest.raises(LeaseLost):
            await stale.record(cid, Change(kind="ready", state=S.READY), epoch=2)
        async with db.read() as s:
            fresh = await s.get(ConnectionRow, cid)
            lines = await s.scalar(select(func.count()).select_from(ConnectionEventRow))
            events = await s.scalar(select(func.count()).select_from(EventRow))
        assert fresh is not None
        assert fresh.state == S.INITIALIZING.value
        assert (lines, events) == (1, 1)
    finally:
        await recorder.close()
        await stale.close()


class Holder:
    """Stands for the supervisor: remembers what it was given and let go."""

    def __init__(self) -> None:
        self.running: dict[str, int] = {}
        self.deleting: set[str] = set()
        self.let_go_calls: list[list[str]] = []
        self.written: dict[str, datetime] = {}
        """What the last round said of the rows' last writes (``catch_up``)."""

    def held(self) -> dict[str, int]:
        return dict(self.running)

    def movable(self) -> list[str]:
        return sorted(self.running)

    def leaving(self) -> set[str]:
        return set(self.deleting)

    async def claimed(self, s: AsyncSession, claims: list[Claim]) -> None:
        pass

    async def adopt(self, claims: list[Claim]) -> None:
        self.running.update({c.connection_id: c.epoch for c in claims})

    async def let_go(self, connection_ids: list[str]) -> None:
        self.let_go_calls.append(sorted(connection_ids))
        for cid in connection_ids:
            self.running.pop(cid, None)

    async def catch_up(self, written: dict[str, datetime]) -> None:
        self.written = dict(written)


def _keeper(
    db: Database,
    clock: ManualClock,
    name: str,
    capacity: int = 100,
    *,
    holder: Holder | Supervisor | None = None,
    lease_db: Database | None = None,
) -> LeaseKeeper:
    """Node ``name``'s keeper: its heartbeat on ``db``, its claims and handovers on
    ``lease_db`` (default ``db``), the sessions ``holder`` (default a ``Holder``)."""
    identity = NodeIdentity(
        id=name, url=None, version="test", capacity=capacity, lease=timedelta(seconds=10)
    )
    return LeaseKeeper(
        lease_db or db,
        clock,
        NodeRegistry(db, identity),
        holder if holder is not None else Holder(),
    )


def _holder(keeper: LeaseKeeper) -> Holder:
    holder = keeper._holder
    assert isinstance(holder, Holder)
    return holder


async def test_claims_spread_fairly_and_a_surplus_is_handed_over_a_few_at_a_time(
    db: Database,
) -> None:
    clock = ManualClock()
    ids = await _connections(db, clock, 12)
    a = _keeper(db, clock, "a")
    await a._registry.register()
    await a.round()
    assert len(_holder(a).running) == 12  # alone: everything

    b, c = _keeper(db, clock, "b"), _keeper(db, clock, "c", capacity=3)
    for keeper in (b, c):
        await keeper._registry.register()
        await keeper.round()
    # Nothing unowned yet: the newcomers wait for a's handover.
    assert (len(_holder(b).running), len(_holder(c).running)) == (0, 0)
    for _ in range(3):
        for keeper in (a, b, c):
            await keeper.round()
    # Shares: c is full at 3, the other 9 split 5/4 (the remainder to the first id).
    assert [len(_holder(k).running) for k in (a, b, c)] == [5, 4, 3]
    assert [len(call) for call in _holder(a).let_go_calls] == [5, 2]  # never a storm
    async with db.read() as s:
        owners = dict((await s.execute(select(ConnectionRow.id, ConnectionRow.node_id))).all())
    for keeper in (a, b, c):
        assert {cid for cid, node in owners.items() if node == keeper.node_id} == set(
            _holder(keeper).running
        )
    assert set(owners) == set(ids)


async def test_each_round_tells_the_holder_when_its_rows_were_last_written(
    db: Database,
) -> None:
    """What lets the supervisor apply settings saved through a node that could not reach
    this one (``Supervisor.catch_up``): the rows' last writes, for what it holds."""
    clock = ManualClock()
    ids = await _connections(db, clock, 2)
    a = _keeper(db, clock, "a")
    await a._registry.register()
    await a.round()  # claims both
    await a.round()
    before = dict(_holder(a).written)
    assert set(before) == set(ids)
    later = clock.now() + timedelta(seconds=5)
    async with db.write() as s:
        await s.execute(
            update(ConnectionRow).where(ConnectionRow.id == ids[0]).values(updated_at=later)
        )
    await a.round()
    assert _holder(a).written == {ids[0]: later, ids[1]: before[ids[1]]}


async def test_a_node_past_its_renewal_deadline_closes_everything_first(db: Database) -> None:
    clock = ManualClock()
    ids = await _connections(db, clock, 3)
    a = _keeper(db, clock, "a")
    await a._registry.register()
    await a.round()
    assert len(_holder(a).running) == 3

    async def unreachable() -> None:
        raise OSError("database unreachable")

    a._registry.heartbeat = unreachable  # type: ignore[method-assign]
    await clock.advance(a.interval)
    await a.round()
    assert _holder(a).let_go_calls == []  # one missed heartbeat: still within the deadline
    await clock.advance(a.deadline)
    await a.round()
    assert _holder(a).let_go_calls == [sorted(ids)]
    assert _holder(a).running == {}

    # Meanwhile b took them over (a's heartbeat is older than the lease).
    async with db.write() as s:
        await s.execute(
            update(NodeRow)
            .where(NodeRow.id == "a")
            .values(heartbeat_at=func.now() - timedelta(seconds=11))
        )
    b = _keeper(db, clock, "b")
    await b._registry.register()
    await b.round()
    assert len(_holder(b).running) == 3
    epochs = set(_holder(b).running.values())
    assert epochs == {2}

    # a comes back: it claims nothing of b's and holds nothing stale.
    del a._registry.heartbeat
    await a.round()
    assert _holder(a).running == {}


async def _owners(db: Database) -> dict[str, tuple[str | None, int]]:
    async with db.read() as s:
        rows = await s.execute(
            select(ConnectionRow.id, ConnectionRow.node_id, ConnectionRow.lease_epoch)
        )
        return {cid: (node, int(epoch)) for cid, node, epoch in rows.all()}


async def test_a_register_that_fails_after_a_cut_off_is_tried_again(db: Database) -> None:
    """Back after a cut-off, the keeper gives its old leases up (``register``); when that
    fails (the database restarted under it), the next round tries again instead of
    leaving the connections named by a node that runs none of them."""
    clock = ManualClock()
    ids = await _connections(db, clock, 3)
    a = _keeper(db, clock, "a")
    await a._registry.register()
    await a.round()

    async def unreachable() -> None:
        raise OSError("database unreachable")

    a._registry.heartbeat = unreachable  # type: ignore[method-assign]
    await clock.advance(a.deadline)
    await a.round()
    assert _holder(a).running == {}  # silent
    del a._registry.heartbeat
    a._registry.register = unreachable  # type: ignore[method-assign]
    with pytest.raises(OSError, match="unreachable"):
        await a.round()  # the heartbeat went through, giving the leases up did not
    del a._registry.register
    await a.round()
    assert _holder(a).running == dict.fromkeys(ids, 2)
    assert await _owners(db) == dict.fromkeys(ids, ("a", 2))


async def test_a_handover_whose_write_failed_is_given_up_a_round_later(
    db: Database, pg_database: str
) -> None:
    """The sessions handed over are closed before their rows are let go; when that write
    fails they name a node that runs them not, and no other node may claim them: the
    keeper gives them up once it has seen them so at two rounds in a row."""
    clock = ManualClock()
    ids = await _connections(db, clock, 4)
    own_db = Database(pg_database)  # a's claims and handovers; its heartbeat on ``db``
    a = _keeper(db, clock, "a", lease_db=own_db)
    b = _keeper(db, clock, "b")
    try:
        await a._registry.register()
        await a.round()
        await b._registry.register()
        await b.round()
        assert (len(_holder(a).running), len(_holder(b).running)) == (4, 0)

        def dropped() -> None:
            raise OSError("the connection dropped")

        own_db.write = dropped  # type: ignore[method-assign,assignment]
        with pytest.raises(OSError, match="dropped"):
            await a.round()  # two sessions closed, their rows not let go
        del own_db.write
        assert len(_holder(a).running) == 2
        for _ in range(3):
            await a.round()
            await b.round()
        assert (len(_holder(a).running), len(_holder(b).running)) == (2, 2)
        owners = await _owners(db)
        assert set(owners) == set(ids)
        for keeper in (a, b):
            assert {
                cid: epoch for cid, (node, epoch) in owners.items() if node == keeper.node_id
            } == _holder(keeper).running
    finally:
        await own_db.close()


async def test_a_claim_whose_sessions_did_not_start_is_claimed_again(db: Database) -> None:
    """The claim committed, then taking the connections up failed (the holder reads
    them through a pool that may hold dead connections after a restart): they are
    given up and claimed afresh instead of staying named by a node that runs none."""
    clock = ManualClock()
    ids = await _connections(db, clock, 3)
    a = _keeper(db, clock, "a")
    holder = _holder(a)
    adopt = holder.adopt

    async def fails(claims: list[Claim]) -> None:
        raise OSError("connection was closed in the middle of operation")

    await a._registry.register()
    holder.adopt = fails  # type: ignore[method-assign]
    with pytest.raises(OSError, match="closed"):
        await a.round()
    holder.adopt = adopt  # type: ignore[method-assign]
    assert await _owners(db) == dict.fromkeys(ids, ("a", 1))
    await a.round()  # seen once: maybe being taken up
    assert holder.running == {}
    await a.round()  # seen twice: given up, and claimed again with new epochs
    assert holder.running == dict.fromkeys(ids, 2)
    assert await _owners(db) == dict.fromkeys(ids, ("a", 2))


async def test_a_connection_being_taken_up_here_is_not_given_up(db: Database) -> None:
    """A connection created through this node is inserted naming it, then run: a round
    that reads it in between does not give it up."""
    clock = ManualClock()
    a = _keeper(db, clock, "a")
    await a._registry.register()
    (cid,) = await _connections(db, clock, 1, node_id="a", lease_epoch=1)
    await a.round()  # committed, not running yet
    _holder(a).running[cid] = 1  # now it runs
    for _ in range(3):
        await a.round()
    assert await _owners(db) == {cid: ("a", 1)}
    assert _holder(a).running == {cid: 1}
    assert _holder(a).let_go_calls == []


async def test_a_connection_being_deleted_here_is_not_given_up(db: Database) -> None:
    """Deleting takes its runner out first, then waits for it and the engine, and only
    then is the row deleted: rounds meanwhile leave the row to this node, so no other
    node resumes a device being deleted."""
    clock = ManualClock()
    a = _keeper(db, clock, "a")
    await a._registry.register()
    (cid,) = await _connections(db, clock, 1, node_id="a", lease_epoch=1)
    holder = _holder(a)
    holder.deleting.add(cid)  # its runner is gone, its delete under way
    for _ in range(3):
        await a.round()
    assert await _owners(db) == {cid: ("a", 1)}


async def test_a_keeper_cancelled_as_its_heartbeat_ends_stops(db: Database) -> None:
    """Shutdown cancels the keeper; a cancel that lands as the heartbeat returns must
    still end the round (3.11's ``wait_for`` returned the heartbeat's result instead,
    and the keeper's loop then waited for a round that never came: shutdown hung)."""
    clock = ManualClock()
    a = _keeper(db, clock, "a")
    await a._registry.register()
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def heartbeat() -> None:
        await gate

    a._registry.heartbeat = heartbeat  # type: ignore[method-assign]
    task = asyncio.ensure_future(a.round())
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set_result(None)  # the heartbeat ends in the same turn as the cancel
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_long_dead_nodes_holding_nothing_are_forgotten(db: Database) -> None:
    clock = ManualClock()
    a = _keeper(db, clock, "a")
    await a._registry.register()
    for name in ("dead", "dead-holding", "recent"):
        await _keeper(db, clock, name)._registry.register()
    await _connections(db, clock, 1, node_id="dead-holding", lease_epoch=1)
    async with db.write() as s:
        for name, age in (("dead", 101), ("dead-holding", 101), ("recent", 99)):
            await s.execute(
                update(NodeRow)
                .where(NodeRow.id == name)
                .values(heartbeat_at=func.now() - timedelta(seconds=age))
            )
    assert await a._registry.prune() == 1
    async with db.read() as s:
        left = set((await s.scalars(select(NodeRow.id))).all())
    assert left == {"a", "dead-holding", "recent"}


def _supervisor(db: Database, clock: ManualClock, node: str, engine: Engine) -> Supervisor:
    """The sessions of node ``node`` (capacity 10) on ``engine``."""
    return Supervisor(
        engine=engine,
        db=db,
        clock=clock,
        health_interval=60,
        restore_concurrency=5,
        restore_jitter=0,
        status_payload=connection_status_payload,
        node_id=node,
        capacity=10,
    )


async def test_a_taken_over_connection_that_was_mid_link_is_disconnected_fenced(
    db: Database, tmp_path: Path
) -> None:
    clock = ManualClock()
    (cid,) = await _connections(db, clock, 1, node_id="b", lease_epoch=4)
    async with db.write() as s:
        await s.execute(
            update(ConnectionRow).where(ConnectionRow.id == cid).values(state=S.QR_READY.value)
        )
    supervisor = _supervisor(
        db, clock, "b", SimulatorEngine(data_dir=tmp_path / "sim", clock=clock)
    )
    await supervisor.start()
    try:
        await supervisor.adopt([Claim(cid, 4)])
        assert supervisor.held() == {cid: 4}
        async with db.read() as s:
            row = await s.get(ConnectionRow, cid)
        assert row is not None
        assert (row.state, row.error_code) == (S.DISCONNECTED.value, "server_restarted")
        # A stale claim (the epoch moved on meanwhile) is not taken up.
        await supervisor.let_go([cid])
        await supervisor.adopt([Claim(cid, 3)])
        assert supervisor.held() == {}
    finally:
        await supervisor.close()


async def test_a_claim_writes_the_state_of_what_it_takes_over_with_itself(
    db: Database, tmp_path: Path
) -> None:
    """A linked connection that said ``ready`` on a dead node says ``reconnecting`` from
    the claim's own commit (a reader never sees the new owner beside a session that no
    longer exists); one waiting for its QR is disconnected. Each change is one
    ``connection.status`` event, written through the keeper's own database as a node
    builds it, and so with what every write of events does: their in-transaction hooks
    (webhook deliveries, the wake-up of other nodes) and after-commit hooks."""
    clock = ManualClock()
    linked, waiting = await _connections(db, clock, 2, node_id="dead", lease_epoch=2)
    async with db.write() as s:
        s.add(
            NodeRow(
                id="dead",
                url=None,
                version="test",
                capacity=10,
                started_at=clock.now(),
                heartbeat_at=func.now() - timedelta(minutes=5),
            )
        )
        for cid, state in ((linked, S.READY), (waiting, S.QR_READY)):
            await s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == cid)
                .values(state=state.value, linked=cid == linked)
            )
    supervisor = _supervisor(
        db, clock, "a", SimulatorEngine(data_dir=tmp_path / "sim", clock=clock)
    )
    identity = NodeIdentity(
        id="a", url=None, version="test", capacity=10, lease=timedelta(seconds=10)
    )
    in_transaction: list[str] = []
    committed: list[str] = []

    async def hook(_s: AsyncSession, events: list[Event], /) -> None:
        in_transaction.extend(e.type for e in events)

    event_hooks(db).add(hook)
    db.on_commit(lambda events: committed.extend(e.type for e in events))
    lease_db = lease_database(db, identity.lease)  # hooks added later are shared too
    keeper = LeaseKeeper(lease_db, clock, NodeRegistry(lease_db, identity), supervisor)
    await supervisor.start()
    try:
        await keeper._registry.register()
        claims = await keeper._claim(10)  # the claim alone, before anything is adopted
        assert {c.connection_id: c.epoch for c in claims} == {linked: 3, waiting: 3}
        async with db.read() as s:
            rows = {
                r.id: (r.node_id, r.state, r.error_code)
                for r in await s.scalars(select(ConnectionRow))
            }
            statuses = (
                await s.scalars(select(EventRow.data).where(EventRow.type == "connection.status"))
            ).all()
        assert rows == {
            linked: ("a", S.RECONNECTING.value, None),
            waiting: ("a", S.DISCONNECTED.value, "server_restarted"),
        }
        assert sorted((d["previous_state"], d["state"]) for d in statuses) == [
            (S.QR_READY.value, S.DISCONNECTED.value),
            (S.READY.value, S.RECONNECTING.value),
        ]
        assert in_transaction == committed == ["connection.status"] * 2
        # Taking them up writes no second change.
        await supervisor.adopt(claims)
        async with db.read() as s:
            count = await s.scalar(
                select(func.count())
                .select_from(EventRow)
                .where(EventRow.type == "connection.status")
            )
        assert count == 2
        assert set(supervisor.held()) == {linked, waiting}
    finally:
        await supervisor.close()
        await lease_db.close()


async def test_a_runner_busy_opening_a_session_never_holds_the_lease_round(
    db: Database,
) -> None:
    """A runner holds its lock while it dials (up to ~30 s with neonize), far beyond the
    renewal deadline. Its own state writes move its row's ``updated_at``; neither they
    nor a settings change saved through another node make the lease round wait for that
    lock: the change is applied once the dial is over."""
    clock = ManualClock()
    engine = RecordingEngine(clock)
    engine.dialing = asyncio.Event()  # the dial hangs until set
    supervisor = _supervisor(db, clock, "a", engine)
    keeper = _keeper(db, clock, "a", capacity=10, holder=supervisor)
    (cid,) = await _connections(db, clock, 1)
    await supervisor.start()
    starting: asyncio.Task[None] | None = None
    try:
        await keeper._registry.register()
        await keeper.round()
        runner = supervisor.find(cid)
        assert runner is not None
        await clock.advance(1)
        starting = asyncio.ensure_future(runner.start())  # writes initializing, then dials
        await until(lambda: ("open", cid) in engine.calls, "the dial")
        assert runner._lock.locked()
        # The bound only keeps a broken build from hanging the suite.
        await asyncio.wait_for(keeper.round(), 5)
        async with db.read() as s:
            row = await s.get(ConnectionRow, cid)
        assert row is not None
        assert (row.state, runner.row_written_at) == (S.INITIALIZING.value, row.updated_at)

        # Settings saved through another node meanwhile.
        async with db.write() as s:
            await s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == cid)
                .values(auto_read=True, updated_at=row.updated_at + timedelta(seconds=1))
            )
        await asyncio.wait_for(keeper.round(), 5)
        assert not runner.behaviour.auto_read  # not yet: the runner is still dialing
        assert ("configure", cid) not in engine.calls
        engine.dialing.set()
        await asyncio.wait_for(starting, 5)
        await until(lambda: runner.behaviour.auto_read, "the settings applied")
        assert engine.calls.count(("configure", cid)) == 1
    finally:
        if starting is not None and not starting.done():
            starting.cancel()
        await supervisor.close()


async def test_settings_saved_just_before_a_runners_own_write_are_still_applied(
    db: Database,
) -> None:
    """The runner's write reads the row with the settings another node saved: that write
    does not pass for the runner having them; the next round applies them."""
    clock = ManualClock()
    engine = RecordingEngine(clock)
    supervisor = _supervisor(db, clock, "a", engine)
    keeper = _keeper(db, clock, "a", capacity=10, holder=supervisor)
    (cid,) = await _connections(db, clock, 1)
    await supervisor.start()
    try:
        await keeper._registry.register()
        await keeper.round()
        runner = supervisor.find(cid)
        assert runner is not None
        async with db.write() as s:
            await s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == cid)
                .values(auto_read=True, updated_at=clock.now() + timedelta(seconds=1))
            )
        await clock.advance(2)
        await runner.start()  # its write comes after the settings', in the same row
        await keeper.round()
        await until(lambda: runner.behaviour.auto_read, "the settings applied")
    finally:
        await supervisor.close()
