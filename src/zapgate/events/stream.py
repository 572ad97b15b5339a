"""Live event streams with resume: the service behind SSE, WebSocket and the panel.

A stream first subscribes to the in-process bus, then replays the persisted log after
``since``, then serves live events, skipping any id it already replayed. Subscribing
first closes the gap between "end of replay" and "start of live"; skipping by id
removes the overlap. Events reach the bus in commit (= id) order (``store/db.py``), so
a client that reconnects with the last id it saw misses nothing and sees nothing twice.

The edges (the API's SSE and WebSocket, the panel's stream) get their ``Follower`` from
``services/events.py``, which checks the role and attaches the credential's ``Guard``;
in process, without a guard::

    async for event in streams.follow(organization_id, since=last_id):
        ...

A consumer slower than the bus (its bounded queue overflowed) gets ``SlowConsumer``;
it should reconnect with the last id it processed and catch up from the log. A stream
opened with a ``Guard`` ends with ``StreamStopped`` once its credential no longer holds
(``events/guard.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime

from zapgate.domain.errors import DomainError
from zapgate.domain.events import Event
from zapgate.domain.streams import SlowConsumer, StreamStopped
from zapgate.events.bus import EventBus, Subscription
from zapgate.events.guard import Guard, Guards
from zapgate.events.log import list_events
from zapgate.store.db import Database
from zapgate.util.clock import Clock, SystemClock
from zapgate.util.tasks import TaskOwner

REPLAY_PAGE = 500
# Envelopes kept encoded, newest last. Live streams send an event within moments of its
# publication, so a few thousand cover every stream that keeps up; a miss re-encodes.
ENCODED_CACHE = 4096

_WAKE = Event(id=0, type="", organization_id="", connection_id=None, created_at=datetime.min)


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

    def heartbeats(self, clock: Clock, interval: float) -> AsyncIterator[Event | None]:
        """These events with ``None`` after every ``interval`` (see ``with_heartbeats``)."""
        return with_heartbeats(self, clock, interval)

    def __init__(
        self,
        streams: EventStreams,
        query: EventQuery,
        since: int | None,
        guard: Guard | None = None,
    ) -> None:
        self._streams = streams
        self.query = query
        self.guard = guard
        self.verified = 0
        self.checked = 0.0
        self.expiry: float | None = None
        self._stopped: DomainError | None = None
        self._stop_signal = asyncio.Event()
        self._sub = self._subscribe()
        self.last_id = since or 0
        self._replaying = since is not None
        self._buffer: deque[Event] = deque()
        self._closed = False
        self._ended = False
        self._drop_counted = False
        self._beat = False
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
            self._streams.guards.forget(self)

    @property
    def stopped(self) -> bool:
        return self._stopped is not None

    def stop(self, error: DomainError) -> None:
        """End the stream for ``error`` (its credential was revoked): the next
        :meth:`next_item` raises ``StreamStopped``, even while it waits for an event."""
        if self._stopped is None and not self._closed:
            self._stopped = error
            self._stop_signal.set()
            self._wake()

    async def wait_stopped(self) -> DomainError:
        """Return once the stream is stopped: lets a consumer blocked on a socket write
        be closed at once."""
        await self._stop_signal.wait()
        assert self._stopped is not None
        return self._stopped

    def end(self) -> None:
        """Finish the iteration (server shutdown) even while it waits for an event."""
        self._ended = True
        self._wake()

    def beat(self) -> None:
        """Ask for a heartbeat: the next :meth:`next_item` returns ``None``."""
        self._beat = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            # A placeholder that only wakes the waiting ``get``; it is never yielded. A
            # full queue needs no waking: its consumer is not waiting.
            self._sub.queue.put_nowait(_WAKE)

    def encode(self, event: Event) -> str:
        """The event's envelope as JSON (encoded once, shared by every stream)."""
        return self._streams.encode(event)

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> Event:
        while True:
            item = await self.next_item()
            if item is not None:
                return item

    async def next_item(self) -> Event | None:
        """The next event, or ``None`` once after :meth:`beat`.

        Raises ``SlowConsumer`` once the live queue has overflowed (everything not yet
        taken is in the log: resume from ``last_id``), ``StreamStopped`` once the
        credential no longer holds and ``StopAsyncIteration`` after :meth:`end`.
        """
        guards = self._streams.guards
        while True:
            if self._stopped is not None:
                raise StreamStopped(self._stopped)
            if self._beat:
                self._beat = False
                return None
            if guards.stale(self):
                await guards.verify(self)
                continue
            if self._buffer:
                return self._take(self._buffer.popleft())
            if self._replaying:
                await self._replay_page()
                continue
            if self._sub.overflowed:
                self._count_drop()
                raise SlowConsumer(self.last_id)
            if self._ended:
                raise StopAsyncIteration
            event = await self._sub.get()
            if event is not _WAKE and event.id > self.last_id:
                if guards.stale(self):
                    # The credential changed while this waited: hold the event until
                    # it is checked again.
                    self._buffer.appendleft(event)
                    continue
                return self._take(event)

    def _subscribe(self) -> Subscription:
        return self._streams.bus.subscribe(
            self.query.accept,
            organization_id=self.query.organization_id,
            maxsize=self._streams.queue_size,
        )

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
            self._sub = self._subscribe()
            return
        # A short page read after the subscription existed: the log is caught up, and
        # anything committed since is waiting in the subscription.
        self._replaying = False
        self._live.set()


class EventStreams:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        clock: Clock | None = None,
        queue_size: int = 1000,
        page: int = REPLAY_PAGE,
        auth_interval: float = 5.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.guards = Guards(clock or SystemClock(), auth_interval)
        self.queue_size = queue_size
        self.page = page
        self.active = 0
        self.dropped = 0
        self.followers: set[Follower] = set()
        self._encoded: dict[int, str] = {}

    def encode(self, event: Event) -> str:
        """The envelope as compact JSON, once per event however many streams send it."""
        text = self._encoded.get(event.id)
        if text is None:
            text = json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False)
            self._encoded[event.id] = text
            if len(self._encoded) > ENCODED_CACHE:
                del self._encoded[next(iter(self._encoded))]
        return text

    def close(self) -> None:
        """End every open stream (server shutdown): clients reconnect and resume."""
        for follower in list(self.followers):
            follower.end()

    async def stop(self) -> None:
        """:meth:`close`, and stop checking credentials."""
        self.close()
        await self.guards.close()

    def open(
        self,
        organization_id: str,
        *,
        since: int | None = None,
        types: Collection[str] | None = None,
        connection_id: str | None = None,
        guard: Guard | None = None,
    ) -> Follower:
        """Subscribe now (synchronously) and return the stream; ``since=None`` is live
        only. With a ``guard``, the stream ends when its credential does."""
        query = EventQuery(
            organization_id=organization_id,
            types=frozenset(types) if types else None,
            connection_id=connection_id,
        )
        follower = Follower(self, query, since, guard)
        self.followers.add(follower)
        if guard is not None:
            self.guards.watch(follower)
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

    Events are taken from the follower only when the consumer asks for the next one, so
    a consumer blocked on a slow socket leaves them in its bounded bus queue, which
    overflows and cuts it off instead of anything here buffering without limit. The
    heartbeat timer only flags the follower; there is no task between bus and consumer.
    """

    async def tick() -> None:
        while True:
            await clock.sleep(interval)
            follower.beat()

    tasks = TaskOwner("event-stream")
    tasks.spawn(tick(), name="heartbeat")
    try:
        while True:
            try:
                item = await follower.next_item()
            except StopAsyncIteration:
                return
            yield item
    finally:
        await tasks.cancel_all()
