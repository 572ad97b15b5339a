"""Retention of the delivery log: a hook of the event retention task (``events.retention``).

Finished deliveries (delivered or failed) go with their events, after
``EVENT_RETENTION_DAYS``. Pending ones are kept even past that: the worker marks those
whose event is gone as failed, so the delivery log says what happened.
"""

from __future__ import annotations

from datetime import datetime

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.events.retention import delete_in_chunks
from zapgate.store.db import Database
from zapgate.store.tables.webhooks import WebhookDeliveryRow


async def prune_deliveries(db: Database, before: datetime) -> int:
    """Delete the finished deliveries created before ``before``; answers how many."""
    return await delete_in_chunks(
        db,
        WebhookDeliveryRow,
        WebhookDeliveryRow.id,
        WebhookDeliveryRow.created_at < before,
        WebhookDeliveryRow.status != DeliveryStatus.PENDING.value,
    )
