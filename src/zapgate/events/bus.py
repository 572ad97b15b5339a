"""In-process fan-out of committed events to live subscribers.

Each subscriber has a bounded queue. A subscriber that falls behind is marked
``overflowed`` and dropped instead of growing memory; it resumes from the persisted
log with the last id it saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from zapgate.domain.events import Event

EventFilter = Callable[[Event], bool]


class Subscription:
    def __init__(self, bus: EventBus, accept: EventFilter, maxsize: int) -> None:
        self._bus = bus
        self._accept = accept
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.overflowed = False
        # Set on overflow so a consumer blocked elsewhere (a socket write) can react now
        # instead of after it has drained the queue.
        self.dropped = asyncio.Event()

    def offer(self, event: Event) -> None:
        if self.overflowed or not self._accept(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.dropped.set()
            self._bus.unsubscribe(self)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self.published = 0
        self.last_id = 0

    def subscribe(self, accept: EventFilter | None = None, *, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, accept or (lambda _e: True), maxsize)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, events: list[Event]) -> None:
        for event in events:
            self.published += 1
            self.last_id = max(self.last_id, event.id)
            for sub in list(self._subs):
                sub.offer(event)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
