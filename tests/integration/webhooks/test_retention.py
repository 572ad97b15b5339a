"""Retention of the delivery log, a hook of the event retention task (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from zapgate.domain.ids import new_id
from zapgate.events.log import append_event
from zapgate.events.retention import RetentionTask
from zapgate.store.db import Database
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.events import EventRow
from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow
from zapgate.util.clock import ManualClock
from zapgate.webhooks.retention import prune_deliveries


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.close()


async def test_old_finished_deliveries_go_with_their_events_pending_ones_stay(
    db: Database, clock: ManualClock
) -> None:
    org, hook = new_id(), new_id()
    old, recent = clock.now() - timedelta(days=8), clock.now() - timedelta(days=1)
    async with db.write() as s:
        s.add(OrganizationRow(id=org, name="Kept", created_at=old))
        s.add(
            WebhookRow(
                id=hook,
                organization_id=org,
                url="https://93.184.215.14/hook",
                events=["*"],
                secret="s" * 32,
                created_at=old,
                updated_at=old,
            )
        )
    expected: dict[str, bool] = {}
    for status, at in [
        ("delivered", old),
        ("failed", old),
        ("pending", old),
        ("delivered", recent),
    ]:
        async with db.write() as s:
            event = await append_event(
                s, organization_id=org, type="chat.updated", data={}, created_at=at
            )
            delivery = WebhookDeliveryRow(
                id=new_id(),
                webhook_id=hook,
                organization_id=org,
                event_id=event.id,
                event_type=event.type,
                status=status,
                attempts=1,
                next_attempt_at=at if status == "pending" else None,
                created_at=at,
            )
            s.add(delivery)
        expected[delivery.id] = status == "pending" or at == recent

    task = RetentionTask(db, clock, days=7)
    task.add(prune_deliveries)
    assert await task.prune_once() == 3
    async with db.read() as s:
        kept = set((await s.scalars(select(WebhookDeliveryRow.id))).all())
        events = (await s.scalars(select(EventRow.created_at))).all()
    assert kept == {delivery_id for delivery_id, stays in expected.items() if stays}
    assert events == [recent]
