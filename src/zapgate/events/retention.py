"""Retention: an owned task that deletes events older than ``EVENT_RETENTION_DAYS``,
and what registered retention hooks keep for as long (finished webhook deliveries).

Deletes go in chunks (``delete_in_chunks``), each its own short transaction: on SQLite
there is one writer, and one huge DELETE after a week of traffic would hold every other
write for seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import InstrumentedAttribute

from zapgate.store.db import Database
from zapgate.store.tables import Base
from zapgate.store.tables.events import EventRow
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

CHUNK = 2000


class RetentionHook(Protocol):
    """Deletes what it keeps from before ``before``; answers how many rows."""

    async def __call__(self, db: Database, before: datetime, /) -> int: ...


async def delete_in_chunks(
    db: Database, table: type[Base], key: InstrumentedAttribute[Any], *where: ColumnElement[bool]
) -> int:
    """Delete the rows of ``table`` matching ``where``, ``CHUNK`` per transaction."""
    total = 0
    while True:
        async with db.write() as s:
            chunk = list((await s.scalars(select(key).where(*where).limit(CHUNK))).all())
            if chunk:
                await s.execute(delete(table).where(key.in_(chunk)))
        total += len(chunk)
        if len(chunk) < CHUNK:
            return total


class RetentionTask:
    def __init__(self, db: Database, clock: Clock, *, days: int, interval: float = 3600.0) -> None:
        self._db = db
        self._clock = clock
        self.days = days
        self.interval = interval
        self._tasks = TaskOwner("retention")
        self._hooks: list[RetentionHook] = []
        self.runs = 0
        self.deleted_events = 0

    def add(self, hook: RetentionHook) -> None:
        """Also run ``hook`` on every round, after the events are pruned."""
        self._hooks.append(hook)

    def start(self) -> None:
        self._tasks.spawn(self._loop(), name="prune")

    async def close(self) -> None:
        await self._tasks.cancel_all()

    def problem(self) -> str | None:
        return None if len(self._tasks) else "event retention task not running"

    async def _loop(self) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception:
                # Logged and retried next round: retention is never urgent.
                log.exception("event retention failed")
            await self._clock.sleep(self.interval)

    async def prune_once(self) -> int:
        before = self._clock.now() - timedelta(days=self.days)
        events = await delete_in_chunks(
            self._db, EventRow, EventRow.id, EventRow.created_at < before
        )
        for hook in self._hooks:
            await hook(self._db, before)
        self.runs += 1
        self.deleted_events += events
        if events:
            log.info("pruned old events", extra={"events": events, "days": self.days})
        return events
