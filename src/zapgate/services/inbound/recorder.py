"""The inbound recorder: a supervisor listener whose writes are group-committed.

``(organization_id, connection_id, events)`` arrives in order per connection. Each call
queues its work and waits for the transaction that carries it, and one flusher writes
everything queued meanwhile in a single transaction. A hundred connections receiving at
once then cost a handful of commits instead of a hundred, which is what lets SQLite's
single writer keep up. If a batch fails, its items are retried one by one so a bad
message cannot sink the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.engines.base import Engine
from zapgate.engines.events import (
    ContactInfo,
    EngineEvent,
    GroupInfo,
    HistorySynced,
    MessageReceived,
    PollVoteReceived,
    ReceiptReceived,
)
from zapgate.events.log import flush_staged
from zapgate.services.batchcache import BatchRecords
from zapgate.services.fence import LeaseFence
from zapgate.services.inbound.directory import record_contact, record_group
from zapgate.services.inbound.downloads import MediaDownloads
from zapgate.services.inbound.messages import store_message
from zapgate.services.inbound.polls import apply_poll_vote
from zapgate.services.inbound.receipts import apply_receipt
from zapgate.services.inbound.work import Item, ReceivedMessage, Work, wanted
from zapgate.services.media import MediaStore
from zapgate.store.db import Database
from zapgate.store.groupcommit import GroupCommit
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

MAX_BATCH = 1024


class InboundRecorder:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        engine: Engine,
        media: MediaStore,
        *,
        max_media: int,
        fence: LeaseFence | None = None,
    ) -> None:
        """``fence``: in a cluster, every write is fenced by the receiving runner's
        lease epoch (``services/fence.py``)."""
        self._db = db
        self._clock = clock
        self._fence = fence or LeaseFence()
        self._downloads = MediaDownloads(db, clock, engine, media, max_media=max_media)
        self._items: GroupCommit[Item, None] = GroupCommit(
            "ingest", self._write, clock=clock, max_items=MAX_BATCH
        )
        self.stored = 0
        """Messages committed so far (benchmarks and tests watch it)."""
        self.fenced = 0
        """Items dropped because this node no longer held their connection's lease."""

    async def close(self) -> None:
        await self._items.close(timeout=5.0)

    async def __call__(
        self, organization_id: str, connection_id: str, events: Sequence[EngineEvent]
    ) -> None:
        """Record ``events`` of one connection, in order; returns once all are committed."""
        works: list[Work] = []
        for event in events:
            try:
                works.extend(await self._works(connection_id, event))
            except Exception:
                # One event that cannot be prepared (disk full saving its media...) is
                # lost alone, as it would be outside a batch; the others go on.
                log.exception(
                    "failed to prepare engine event",
                    extra={"connection_id": connection_id, "event": type(event).__name__},
                )
        if not works:
            return
        # Wait for every item (a failed one is replayed alone while the others commit),
        # so the runner's next lifecycle event never overtakes this traffic. Items stay
        # queued if the runner is cancelled meanwhile: they were received all the same.
        epoch = self._fence.epoch(connection_id)
        outcomes = await self._items.submit_many(
            [Item(organization_id, connection_id, w, epoch) for w in works]
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _works(self, connection_id: str, event: EngineEvent) -> list[Work]:
        prepare = self._downloads.prepare
        if isinstance(event, MessageReceived):
            return [await prepare(connection_id, event.message, history=False)]
        if isinstance(event, HistorySynced):
            return [
                await prepare(connection_id, message, history=True) for message in event.messages
            ]
        if isinstance(event, ReceiptReceived | ContactInfo | GroupInfo | PollVoteReceived):
            return [event]
        return []

    async def _write(self, items: list[Item]) -> list[None]:
        """All of ``items`` in one transaction (the group commit's batch function)."""
        count = len(items)
        now = self._clock.now()
        inserted = 0
        async with self._db.write(in_loop=True) as s:
            if self._fence.node_id is not None:
                items = await self._held(s, items)
            # Lock order: connection rows first, then messages and chats, events last
            # (docs/events.md); a send outcome takes its connection first as well.
            active = sorted({i.connection_id for i in items if isinstance(i.work, ReceivedMessage)})
            if active:
                await s.execute(
                    update(ConnectionRow)
                    .where(ConnectionRow.id.in_(active))
                    .values(last_activity_at=now)
                )
            batch = BatchRecords()
            await batch.load(s, **wanted(items))
            for item in items:
                work = item.work
                if isinstance(work, ReceivedMessage):
                    if await store_message(s, batch, item, work, now):
                        inserted += 1
                elif isinstance(work, ReceiptReceived):
                    await batch.drain(s)
                    await apply_receipt(s, batch, item, work, now)
                elif isinstance(work, PollVoteReceived):
                    await batch.drain(s)
                    await apply_poll_vote(s, item, work, now)
                elif isinstance(work, ContactInfo):
                    await record_contact(s, batch, item, work, now)
                else:
                    await record_group(s, item, work, now)
            await batch.drain(s)
            await flush_staged(s)  # events last (events/log.py)
        # Counted after the commit: a batch that fails is replayed and counted once.
        self.stored += inserted
        return [None] * count

    async def _held(self, s: AsyncSession, items: list[Item]) -> list[Item]:
        """The items whose connection this node still holds at their runner's epoch;
        the rows stay share-locked to the commit, so no claim slips in between. A node
        that lost a lease (paused, cut off) writes nothing it received."""
        held = await self._fence.held(s, {i.connection_id for i in items})
        kept = [i for i in items if i.epoch is not None and held.get(i.connection_id) == i.epoch]
        if len(kept) != len(items):
            self.fenced += len(items) - len(kept)
            log.warning(
                "inbound traffic of connections another node now runs was not written",
                extra={"dropped": len(items) - len(kept)},
            )
        return kept
