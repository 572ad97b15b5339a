"""In-process fan-out of committed events to live subscribers.

Each subscriber has a bounded queue. A subscriber that falls behind is marked
``overflowed`` and dropped instead of growing memory; it resumes from the persisted
log with the last id it saw.

Subscribers are kept per organization: every live stream belongs to one tenant, so an
event is offered only to its own organization's subscribers instead of to every open
stream (500 streams over 50 organizations: 10 offers per event, not 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from zapgate.domain.events import Event

EventFilter = Callable[[Event], bool]


class Subscription:
    def __init__(
        self, bus: EventBus, accept: EventFilter, maxsize: int, organization_id: str | None
    ) -> None:
        self._bus = bus
        self._accept = accept
        self.organization_id = organization_id
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
        # Key None: subscribers that want every organization's events.
        self._subs: dict[str | None, set[Subscription]] = {}
        self.published = 0
        self.last_id = 0

    def subscribe(
        self,
        accept: EventFilter | None = None,
        *,
        organization_id: str | None = None,
        maxsize: int = 1000,
    ) -> Subscription:
        """``organization_id`` narrows the events offered to ``accept`` to that tenant's."""
        sub = Subscription(self, accept or (lambda _e: True), maxsize, organization_id)
        self._subs.setdefault(organization_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.organization_id)
        if subs is None or sub not in subs:
            return
        subs.remove(sub)
        if not subs:
            del self._subs[sub.organization_id]

    def publish(self, events: list[Event]) -> None:
        for event in events:
            self.published += 1
            self.last_id = max(self.last_id, event.id)
            for key in (event.organization_id, None):
                subs = self._subs.get(key)
                if subs:
                    # A copy: an overflowing subscriber removes itself while we iterate.
                    for sub in tuple(subs):
                        sub.offer(event)

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._subs.values())
