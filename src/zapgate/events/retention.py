"""Retention: an owned task that deletes events (and finished webhook deliveries) older
than ``EVENT_RETENTION_DAYS``.

Deletes go in chunks, each its own short transaction: on SQLite there is one writer,
and one huge DELETE after a week of traffic would hold every other write for seconds.
Pending deliveries are kept even past retention; the worker marks those whose event
is gone as failed, so the delivery log says what happened.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import InstrumentedAttribute

from zapgate.outbox.fanout import DELIVERY_PENDING
from zapgate.store.db import Database
from zapgate.store.tables import Base, EventRow, WebhookDeliveryRow
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

CHUNK = 2000


class RetentionTask:
    def __init__(self, db: Database, clock: Clock, *, days: int, interval: float = 3600.0) -> None:
        self._db = db
        self._clock = clock
        self.days = days
        self.interval = interval
        self._tasks = TaskOwner("retention")
        self.runs = 0
        self.deleted_events = 0

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
        events = await self._chunked(EventRow, EventRow.id, EventRow.created_at < before)
        await self._chunked(
            WebhookDeliveryRow,
            WebhookDeliveryRow.id,
            WebhookDeliveryRow.created_at < before,
            WebhookDeliveryRow.status != DELIVERY_PENDING,
        )
        self.runs += 1
        self.deleted_events += events
        if events:
            log.info("pruned old events", extra={"events": events, "days": self.days})
        return events

    async def _chunked(
        self, table: type[Base], key: InstrumentedAttribute[Any], *where: ColumnElement[bool]
    ) -> int:
        total = 0
        while True:
            async with self._db.write() as s:
                chunk = list((await s.scalars(select(key).where(*where).limit(CHUNK))).all())
                if chunk:
                    await s.execute(delete(table).where(key.in_(chunk)))
            total += len(chunk)
            if len(chunk) < CHUNK:
                return total
