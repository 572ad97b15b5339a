"""The bus and live followers without a database (live-only streams never read the log)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import eventually
from zapgate.domain.events import Event
from zapgate.domain.streams import SlowConsumer
from zapgate.events.bus import EventBus
from zapgate.events.stream import EventStreams, with_heartbeats
from zapgate.store.db import Database
from zapgate.util.clock import ManualClock


def _event(id: int, org: str = "org-a", type: str = "message.received") -> Event:
    return Event(
        id=id,
        type=type,
        organization_id=org,
        connection_id=None,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        data={"n": id, "text": "olá"},
    )


@pytest.fixture
async def streams(tmp_path: Path) -> AsyncIterator[EventStreams]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")  # live only: never read
    yield EventStreams(db, EventBus(), queue_size=3)
    await db.close()


def test_bus_offers_an_event_only_to_its_organization_and_to_catch_alls() -> None:
    bus = EventBus()
    a = bus.subscribe(organization_id="org-a")
    b = bus.subscribe(organization_id="org-b")
    everything = bus.subscribe()
    bus.publish([_event(1, "org-a"), _event(2, "org-b"), _event(3, "org-c")])
    assert [a.queue.get_nowait().id for _ in range(a.queue.qsize())] == [1]
    assert [b.queue.get_nowait().id for _ in range(b.queue.qsize())] == [2]
    assert everything.queue.qsize() == 3
    assert bus.subscribers == 3
    a.close()
    a.close()  # twice is harmless
    assert bus.subscribers == 2


def test_bus_drops_a_subscriber_whose_queue_overflows() -> None:
    bus = EventBus()
    slow = bus.subscribe(organization_id="org-a", maxsize=2)
    other = bus.subscribe(organization_id="org-a", maxsize=10)
    bus.publish([_event(i) for i in range(1, 5)])
    assert slow.overflowed
    assert slow.dropped.is_set()
    assert slow.queue.qsize() == 2
    assert other.queue.qsize() == 4
    assert bus.subscribers == 1
    assert bus.last_id == 4
    assert bus.published == 4


async def test_each_event_is_encoded_once_for_every_stream(streams: EventStreams) -> None:
    first = streams.open("org-a")
    second = streams.open("org-a")
    event = _event(7)
    streams.bus.publish([event])
    got = [await anext(first), await anext(second)]
    texts = [first.encode(got[0]), second.encode(got[1])]
    assert texts[0] is texts[1]
    assert json.loads(texts[0]) == {**event.envelope(), "created_at": "2024-05-01T00:00:00Z"}
    assert "olá" in texts[0]  # not \\u-escaped


async def test_heartbeats_come_from_the_clock_between_events(streams: EventStreams) -> None:
    clock = ManualClock()
    follower = streams.open("org-a", types=["message.received"])
    items = with_heartbeats(follower, clock, 15)
    nxt = asyncio.ensure_future(anext(items))
    await eventually(_true(lambda: clock.pending == 1), what="heartbeat timer armed")
    await clock.advance(15)
    assert await nxt is None
    streams.bus.publish([_event(1), _event(2, type="chat.updated"), _event(3)])
    assert [await anext(items) for _ in range(2)] == [_event(1), _event(3)]
    assert follower.last_id == 3
    nxt = asyncio.ensure_future(anext(items))
    follower.end()
    with pytest.raises(StopAsyncIteration):
        await nxt
    await items.aclose()
    assert clock.pending == 0  # the timer ended with the stream
    follower.close()
    assert streams.active == 0
    assert streams.bus.subscribers == 0


async def test_a_live_follower_that_overflows_is_told_at_once(streams: EventStreams) -> None:
    follower = streams.open("org-a")
    streams.bus.publish([_event(1)])
    assert (await anext(follower)).id == 1
    streams.bus.publish([_event(i) for i in range(2, 7)])  # queue size 3
    # At once, not after draining the queue, and with the last id it really got: it
    # resumes from the log without a gap.
    with pytest.raises(SlowConsumer) as raised:
        await anext(follower)
    assert raised.value.last_id == 1
    assert streams.dropped == 1
    follower.close()


def _true(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def wrapped() -> bool:
        return check()

    return wrapped
