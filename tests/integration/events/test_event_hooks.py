"""In-transaction event hooks: the log runs what the composition root registered, in the
event's own transaction, and nothing else (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import Event
from zapgate.domain.ids import new_id
from zapgate.events.log import append_event, event_hooks, flush_staged, stage_event
from zapgate.store.db import Database
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.events import EventRow
from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow
from zapgate.util.clock import ManualClock
from zapgate.webhooks.fanout import enqueue_deliveries


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.close()


async def _org_with_webhook(db: Database, clock: ManualClock) -> str:
    org = new_id()
    async with db.write() as s:
        s.add(OrganizationRow(id=org, name="Hooked", created_at=clock.now()))
        s.add(
            WebhookRow(
                id=new_id(),
                organization_id=org,
                url="https://93.184.215.14/hook",
                events=["*"],
                secret="s" * 32,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    return org


async def _count(db: Database, table: type[EventRow] | type[WebhookDeliveryRow]) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


async def test_without_hooks_the_log_writes_events_only(db: Database, clock: ManualClock) -> None:
    org = await _org_with_webhook(db, clock)
    async with db.write() as s:
        await append_event(
            s, organization_id=org, type="chat.updated", data={}, created_at=clock.now()
        )
    assert await _count(db, EventRow) == 1
    assert await _count(db, WebhookDeliveryRow) == 0


async def test_hooks_run_once_per_append_or_flush_in_the_same_transaction(
    db: Database, clock: ManualClock
) -> None:
    org = await _org_with_webhook(db, clock)
    seen: list[list[int]] = []

    async def record(session: AsyncSession, events: list[Event]) -> None:
        seen.append([e.id for e in events])

    hooks = event_hooks(db)
    hooks.add(enqueue_deliveries)
    hooks.add(record)
    hooks.add(record)  # registering twice runs it once
    assert event_hooks(db) is hooks
    async with db.write() as s:
        one = await append_event(
            s, organization_id=org, type="chat.updated", data={}, created_at=clock.now()
        )
        for n in range(3):
            stage_event(
                s, organization_id=org, type="chat.updated", data={"n": n}, created_at=clock.now()
            )
        staged = await flush_staged(s)
    assert seen == [[one.id], [e.id for e in staged]]
    assert await _count(db, WebhookDeliveryRow) == 4


async def test_a_failing_hook_rolls_the_events_back(db: Database, clock: ManualClock) -> None:
    org = await _org_with_webhook(db, clock)

    async def refuse(session: AsyncSession, events: list[Event]) -> None:
        raise RuntimeError("no")

    event_hooks(db).add(enqueue_deliveries)
    event_hooks(db).add(refuse)
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            await append_event(
                s, organization_id=org, type="chat.updated", data={}, created_at=clock.now()
            )
    assert await _count(db, EventRow) == 0
    assert await _count(db, WebhookDeliveryRow) == 0
