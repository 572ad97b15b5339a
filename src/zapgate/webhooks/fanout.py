"""Fan-out of events to webhook deliveries, inside the transaction that writes the event.

A delivery row exists exactly when its event does: both commit or neither does, so a
crash between "event written" and "deliveries queued" cannot lose a webhook call, and
no dispatcher cursor has to be kept in step with the log. A webhook receives the events
committed after it was created (and while it is enabled).

``enqueue_deliveries`` is an in-transaction event hook (``events.log.EventHooks``) the
runtime registers on its database; the event log does not know webhooks exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.events import Event, EventType
from zapgate.domain.ids import new_id
from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow

ALL_EVENTS = "*"

_CACHE = "zapgate.webhook_targets"
_DELIVERIES = cast(Table, WebhookDeliveryRow.__table__)


@dataclass(frozen=True, slots=True)
class _Target:
    id: str
    events: frozenset[str]
    connection_id: str | None

    def wants(self, event: Event) -> bool:
        if event.type == EventType.WEBHOOK_TEST:
            # A test goes to the one webhook it names, whatever that one subscribes to.
            return bool(event.data) and event.data.get("webhook_id") == self.id
        if self.connection_id is not None and event.connection_id != self.connection_id:
            return False
        return ALL_EVENTS in self.events or event.type in self.events


async def _targets(session: AsyncSession, organization_id: str) -> list[_Target]:
    # One query per organization per transaction: a transaction that appends many
    # events (a history sync) does not query the webhooks once per event.
    cache: dict[str, list[_Target]] = session.info.setdefault(_CACHE, {})
    found = cache.get(organization_id)
    if found is None:
        rows = await session.execute(
            select(WebhookRow.id, WebhookRow.events, WebhookRow.connection_id).where(
                WebhookRow.organization_id == organization_id, WebhookRow.enabled.is_(True)
            )
        )
        found = [_Target(r.id, frozenset(r.events or ()), r.connection_id) for r in rows]
        cache[organization_id] = found
    return found


async def load_targets(session: AsyncSession, organization_ids: Iterable[str]) -> None:
    """Cache the webhooks of all these organizations with one query: a batch of events
    spread over 50 organizations would otherwise cost 50 round trips in its transaction."""
    cache: dict[str, list[_Target]] = session.info.setdefault(_CACHE, {})
    missing = sorted(set(organization_ids) - cache.keys())
    if not missing:
        return
    found: dict[str, list[_Target]] = {org: [] for org in missing}
    rows = await session.execute(
        select(
            WebhookRow.organization_id, WebhookRow.id, WebhookRow.events, WebhookRow.connection_id
        ).where(WebhookRow.organization_id.in_(missing), WebhookRow.enabled.is_(True))
    )
    for r in rows:
        found[r.organization_id].append(_Target(r.id, frozenset(r.events or ()), r.connection_id))
    cache.update(found)


def forget_targets(session: AsyncSession) -> None:
    """Drop the per-transaction cache after webhooks change inside that transaction."""
    session.info.pop(_CACHE, None)


async def enqueue_deliveries(session: AsyncSession, events: list[Event]) -> None:
    """Queue one delivery per (event, enabled webhook that wants it), in one INSERT.
    The webhooks of all the events' organizations are read at once."""
    await load_targets(session, {event.organization_id for event in events})
    values = [
        {
            "id": new_id(),
            "webhook_id": target.id,
            "organization_id": event.organization_id,
            "event_id": event.id,
            "event_type": event.type,
            "connection_id": event.connection_id,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": event.created_at,
            "created_at": event.created_at,
        }
        for event in events
        for target in await _targets(session, event.organization_id)
        if target.wants(event)
    ]
    if values:
        # Core, not an ORM bulk insert: no per-row ORM bookkeeping for rows nobody loads.
        await session.execute(insert(_DELIVERIES), values)
