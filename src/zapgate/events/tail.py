"""The bus fed from the log (cluster mode): every node's live streams see every event.

On one node the bus is fed by this process's commits (``Database.on_commit``). In a
cluster other nodes append events too, so the log is the truth: a single tail task
reads ``events`` after the last id it published, in id order, and publishes what it
finds. It is woken by this node's commits and by other nodes' (a PostgreSQL
notification sent in each event-writing transaction), and reads every ``poll``
seconds anyway, so a lost notification delays an event, never loses it. Ids become
visible in commit order cluster-wide (the log's advisory lock, ``events/log.py``),
so reading past the last id never skips one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import select

from zapgate.domain.events import Event
from zapgate.events.bus import EventBus
from zapgate.events.log import last_event_id, to_event
from zapgate.store.db import Database
from zapgate.store.tables.events import EventRow
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

PAGE = 1000


class LogTail:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, poll: float = 1.0) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._poll = poll
        self._wake = asyncio.Event()
        self._owner = TaskOwner("log-tail")
        self.reads = 0
        self._failing = False
        self.listeners: list[Callable[[list[Event]], None]] = []
        """Called with each page published (the webhook dispatcher's wake-up)."""
        self.wanted: list[Callable[[], bool]] = []
        """Whether a listener needs the events now (the dispatcher: when it delivers)."""
        self.skipped = 0
        """Reads that moved past the log's new events without loading them."""
        self._skipped_at: float | None = None

    def wake(self, *_: object) -> None:
        """Read now (sync: called from after-commit hooks and notifications)."""
        self._wake.set()

    async def start(self) -> None:
        async with self._db.read() as s:
            self._bus.last_id = max(self._bus.last_id, await last_event_id(s))
        self._owner.spawn(self._run(), name="log-tail")

    async def close(self) -> None:
        await self._owner.cancel_all()
        await self._owner.close(timeout=1.0)

    def problem(self) -> str | None:
        return "reading the event log fails" if self._failing else None

    async def _run(self) -> None:
        while True:
            await self._wait()
            try:
                while await self.read_once() == PAGE:
                    pass
                self._failing = False
            except Exception:
                if not self._failing:
                    log.exception("reading the event log failed; retrying")
                self._failing = True

    async def _wait(self) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(self._poll))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        self._wake.clear()

    def _idle(self) -> bool:
        return not self._bus.subscribers and not any(wanted() for wanted in self.wanted)

    async def read_once(self) -> int:
        """Publish the events after the bus's last id (one page); how many there were.

        When nothing here reads events (no live stream, no delivering dispatcher) the
        tail only moves past them: loading and decoding every other node's events cost
        a node a tenth of its CPU under a send load (``bench/cluster.py``). A stream
        that subscribes later replays the log first (``events/stream.py``); one that
        subscribed while the last id was read makes this a full read after all."""
        if self._idle():
            now = self._clock.monotonic()
            if self._skipped_at is not None and now - self._skipped_at < self._poll:
                # Woken by every commit of every node, but nobody here reads: look at
                # most once per ``poll`` (a stream that subscribes replays the log).
                return 0
            async with self._db.read() as s:
                last = await last_event_id(s)
            if self._idle():  # still nobody: no subscriber missed these
                self._skipped_at = now
                self.reads += 1
                self.skipped += 1
                self._bus.last_id = max(self._bus.last_id, last)
                return 0
        self._skipped_at = None
        async with self._db.read() as s:
            rows = (
                await s.scalars(
                    select(EventRow)
                    .where(EventRow.id > self._bus.last_id)
                    .order_by(EventRow.id)
                    .limit(PAGE)
                )
            ).all()
        self.reads += 1
        if rows:
            events = [to_event(row) for row in rows]
            self._bus.publish(events)
            for listener in self.listeners:
                listener(events)
        return len(rows)
