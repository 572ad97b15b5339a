"""Live events across nodes, in one process on a real PostgreSQL: events another node
commits reach this node's bus in id order, woken by the commit's notification; a missed
notification costs latency only (the log is the truth)."""

from __future__ import annotations

import pytest

from tests.conftest import _truncate_pg, eventually
from zapgate.cluster.wakeups import EVENTS, WakeUps, notify_at_commit
from zapgate.domain.ids import new_id
from zapgate.events.bus import EventBus
from zapgate.events.log import append_event, event_hooks
from zapgate.events.tail import LogTail
from zapgate.store.db import Database
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.util.clock import ManualClock


@pytest.fixture
async def url(pg_database: str) -> str:
    await _truncate_pg(pg_database)
    return pg_database


async def _append(db: Database, clock: ManualClock, org: str, *names: str) -> None:
    async with db.write() as s:
        for name in names:
            await append_event(
                s, organization_id=org, type="test.event", data={"n": name}, created_at=clock.now()
            )


async def test_events_committed_by_another_node_reach_this_bus_in_order(url: str) -> None:
    clock = ManualClock()
    other = Database(url)  # another node: it only writes
    event_hooks(other).add(notify_at_commit())
    here = Database(url)
    bus = EventBus()
    # A poll this long never fires: only the notifications wake the tail.
    tail = LogTail(here, bus, clock, poll=10_000)
    wakeups = WakeUps(url, clock)
    wakeups.subscribe(lambda payload: tail.wake() if payload == EVENTS else None)
    org = new_id()
    try:
        async with other.write() as s:
            s.add(OrganizationRow(id=org, name="Tailed", created_at=clock.now()))
        await wakeups.start()
        await tail.start()
        with bus.subscribe(organization_id=org) as sub:
            await _append(other, clock, org, "one", "two")
            await _append(other, clock, org, "three")
            await eventually(lambda: _ready(sub.queue.qsize(), 3), what="three events")
            got = [sub.queue.get_nowait() for _ in range(3)]
            assert [e.data["n"] for e in got] == ["one", "two", "three"]
            assert [e.id for e in got] == sorted(e.id for e in got)
            assert wakeups.received >= 2

            # A notification lost (the tail not woken): the next read finds the event.
            silent = Database(url)  # no notification at its commits
            await _append(silent, clock, org, "four")
            await silent.close()
            assert sub.queue.empty()
            tail.wake()
            await eventually(lambda: _ready(sub.queue.qsize(), 1), what="the missed event")
            assert sub.queue.get_nowait().data == {"n": "four"}
    finally:
        await tail.close()
        await wakeups.close()
        await other.close()
        await here.close()


async def _ready(size: int, wanted: int) -> bool:
    return size >= wanted


async def test_with_nobody_listening_the_tail_moves_past_events_without_loading_them(
    url: str,
) -> None:
    clock = ManualClock()
    db = Database(url)
    bus = EventBus()
    tail = LogTail(db, bus, clock, poll=10_000)
    wanted = [False]
    tail.wanted.append(lambda: wanted[0])
    org = new_id()
    try:
        async with db.write() as s:
            s.add(OrganizationRow(id=org, name="Idle", created_at=clock.now()))
        await _append(db, clock, org, "unheard")
        assert await tail.read_once() == 0  # nobody here: skipped, not loaded
        assert tail.skipped == 1
        skipped_to = bus.last_id
        assert skipped_to > 0
        # Woken again at once (every node's commit wakes it): not even the last id is
        # read until ``poll`` has passed.
        await _append(db, clock, org, "unheard too")
        assert await tail.read_once() == 0
        assert (tail.skipped, bus.last_id) == (1, skipped_to)
        # A stream subscribes: the next events are read and published again (what it
        # missed before subscribing, it replays from the log itself).
        with bus.subscribe(organization_id=org) as sub:
            await _append(db, clock, org, "heard")
            # From the last id read: what came after it is published (a stream skips
            # by id what its replay already gave it).
            assert await tail.read_once() == 2
            got = [sub.queue.get_nowait().data["n"] for _ in range(2)]
            assert got == ["unheard too", "heard"]
        # A listener that wants events (a delivering dispatcher) gets them too.
        wanted[0] = True
        heard: list[str] = []
        tail.listeners.append(lambda events: heard.extend(e.data["n"] for e in events))
        await _append(db, clock, org, "delivered")
        assert await tail.read_once() == 1
        assert heard == ["delivered"]
        assert tail.skipped == 1
    finally:
        await db.close()
