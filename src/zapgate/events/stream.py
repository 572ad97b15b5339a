"""Live event streams with resume: the service behind SSE, WebSocket and the panel.

A stream first subscribes to the in-process bus, then replays the persisted log after
``since``, then serves live events, skipping any id it already replayed. Subscribing
first closes the gap between "end of replay" and "start of live"; skipping by id
removes the overlap. Events reach the bus in commit (= id) order (``store/db.py``), so
a client that reconnects with the last id it saw misses nothing and sees nothing twice.

Usage (the web panel does the same)::

    async for event in streams.follow(principal.organization_id, since=last_id):
        ...

A consumer slower than the bus (its bounded queue overflowed) gets ``SlowConsumer``;
it should reconnect with the last id it processed and catch up from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime

from zapgate.domain.events import Event
from zapgate.events.bus import EventBus
from zapgate.events.log import list_events
from zapgate.store.db import Database
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

REPLAY_PAGE = 500

_WAKE = Event(id=0, type="", organization_id="", connection_id=None, created_at=datetime.min)


class SlowConsumer(Exception):
    """The consumer fell more than the queue size behind the live events."""

    def __init__(self, last_id: int) -> None:
        super().__init__(f"consumer too slow; resume from id {last_id}")
        self.last_id = last_id


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events one stream wants. ``organization_id`` is not optional: tenancy."""

    organization_id: str
    types: frozenset[str] | None = None
    connection_id: str | None = None

    def accept(self, event: Event) -> bool:
        return (
            event.organization_id == self.organization_id
            and (self.types is None or event.type in self.types)
            and (self.connection_id is None or event.connection_id == self.connection_id)
        )


class Follower:
    """One stream: an async iterator of events (replay, then live). Close it when done."""

    def __init__(
        self,
        streams: EventStreams,
        query: EventQuery,
        since: int | None,
    ) -> None:
        self._streams = streams
        self.query = query
        self._sub = streams.bus.subscribe(query.accept, maxsize=streams.queue_size)
        self.last_id = since or 0
        self._replaying = since is not None
        self._buffer: deque[Event] = deque()
        self._closed = False
        self._ended = False
        self._drop_counted = False
        self._live = asyncio.Event()
        if not self._replaying:
            self._live.set()
        streams.active += 1

    async def wait_dropped(self) -> None:
        """Return once the live queue has overflowed: lets a consumer blocked on a socket
        write be cut off at once instead of after it drained its queue."""
        await self._live.wait()
        await self._sub.dropped.wait()
        self._count_drop()

    def _count_drop(self) -> None:
        if not self._drop_counted:
            self._drop_counted = True
            self._streams.dropped += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sub.close()
            self._streams.active -= 1
            self._streams.followers.discard(self)

    def end(self) -> None:
        """Finish the iteration (server shutdown) even while it waits for an event."""
        self._ended = True
        with contextlib.suppress(asyncio.QueueFull):
            # A placeholder that only wakes the waiting ``get``; it is never yielded.
            self._sub.queue.put_nowait(_WAKE)

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._buffer:
                return self._take(self._buffer.popleft())
            if not self._replaying:
                break
            await self._replay_page()
        if self._sub.overflowed:
            self._count_drop()
            raise SlowConsumer(self.last_id)
        while not self._ended:
            event = await self._sub.get()
            if event.id > self.last_id and event is not _WAKE:
                return self._take(event)
        raise StopAsyncIteration

    def _take(self, event: Event) -> Event:
        self.last_id = event.id
        return event

    async def _replay_page(self) -> None:
        page_size = self._streams.page
        async with self._streams.db.read() as s:
            page = await list_events(
                s,
                organization_id=self.query.organization_id,
                since=self.last_id,
                types=sorted(self.query.types) if self.query.types is not None else None,
                connection_id=self.query.connection_id,
                limit=page_size,
            )
        self._buffer.extend(page)
        if len(page) == page_size:
            return
        if self._sub.overflowed:
            # A long replay let the live queue overflow. Nothing is lost: everything
            # published is already in the log, so subscribe again and keep reading it.
            self._sub = self._streams.bus.subscribe(
                self.query.accept, maxsize=self._streams.queue_size
            )
            return
        # A short page read after the subscription existed: the log is caught up, and
        # anything committed since is waiting in the subscription.
        self._replaying = False
        self._live.set()


class EventStreams:
    def __init__(
        self, db: Database, bus: EventBus, *, queue_size: int = 1000, page: int = REPLAY_PAGE
    ) -> None:
        self.db = db
        self.bus = bus
        self.queue_size = queue_size
        self.page = page
        self.active = 0
        self.dropped = 0
        self.followers: set[Follower] = set()

    def close(self) -> None:
        """End every open stream (server shutdown): clients reconnect and resume."""
        for follower in list(self.followers):
            follower.end()

    def open(
        self,
        organization_id: str,
        *,
        since: int | None = None,
        types: Collection[str] | None = None,
        connection_id: str | None = None,
    ) -> Follower:
        """Subscribe now (synchronously) and return the stream; ``since=None`` is live only."""
        query = EventQuery(
            organization_id=organization_id,
            types=frozenset(types) if types else None,
            connection_id=connection_id,
        )
        follower = Follower(self, query, since)
        self.followers.add(follower)
        return follower

    async def follow(
        self,
        organization_id: str,
        *,
        since: int | None = None,
        types: Collection[str] | None = None,
        connection_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """Events of one organization after ``since``, then live, until the caller stops."""
        with self.open(
            organization_id, since=since, types=types, connection_id=connection_id
        ) as follower:
            async for event in follower:
                yield event


Heartbeat = None
"""What ``with_heartbeats`` yields when nothing happened for a while."""


async def with_heartbeats(
    follower: Follower, clock: Clock, interval: float
) -> AsyncIterator[Event | None]:
    """The follower's events, with ``None`` after every ``interval`` of clock time.

    Events and heartbeats go through one queue of size 1, so a consumer blocked on a
    slow socket stops pulling from the follower, its bounded bus queue fills, and the
    overflow cuts it off, instead of this function buffering without limit.
    """
    merged: asyncio.Queue[Event | BaseException | None] = asyncio.Queue(maxsize=1)

    async def pump() -> None:
        try:
            async for event in follower:
                await merged.put(event)
            await merged.put(StopAsyncIteration())
        except Exception as exc:
            await merged.put(exc)

    async def tick() -> None:
        while True:
            await clock.sleep(interval)
            await merged.put(Heartbeat)

    tasks = TaskOwner("event-stream")
    tasks.spawn(pump(), name="pump")
    tasks.spawn(tick(), name="heartbeat")
    try:
        while True:
            item = await merged.get()
            if isinstance(item, StopAsyncIteration):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        await tasks.cancel_all()
