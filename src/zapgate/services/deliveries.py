"""The delivery log of a destination (a webhook or an event export) and redelivery.

Webhooks and exports share the delivery tables (``kind`` tells them apart), so their
logs are read and requeued by the same code; each service answers only for its own
kind, and a destination of another kind is not found, like one of another organization.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.errors import Conflict, NotFound
from zapgate.domain.roles import Role
from zapgate.services.context import Principal
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, encode_cursor
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.webhooks import WebhookAttemptRow, WebhookDeliveryRow, WebhookRow
from zapgate.util.clock import Clock
from zapgate.webhooks.dispatcher import WebhookDispatcher


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: WebhookDeliveryRow
    attempts: list[WebhookAttemptRow]


class DeliveryLog:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        dispatcher: WebhookDispatcher,
        *,
        kinds: frozenset[str],
        noun: str,
    ) -> None:
        self._db = db
        self._clock = clock
        self._dispatcher = dispatcher
        self._kinds = kinds
        self._noun = noun

    async def destination(self, s: AsyncSession, principal: Principal, dest_id: str) -> WebhookRow:
        row = await s.get(WebhookRow, dest_id)
        if (
            row is None
            or row.organization_id != principal.organization_id
            or row.kind not in self._kinds
        ):
            raise NotFound(f"{self._noun} not found", code=f"{self._noun}_not_found")
        return row

    async def check_connection(
        self, s: AsyncSession, principal: Principal, connection_id: str | None
    ) -> None:
        """A destination's connection filter must name a connection of its organization."""
        if connection_id is None:
            return
        row = await s.get(ConnectionRow, connection_id)
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("connection not found", code="connection_not_found")

    async def deliveries(
        self,
        principal: Principal,
        dest_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[WebhookDeliveryRow]:
        """The delivery log, newest first."""
        principal.require(Role.ADMIN)
        check_limit(limit)
        query = (
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.webhook_id == dest_id)
            .order_by(WebhookDeliveryRow.id.desc())
            .limit(limit + 1)
        )
        if status is not None:
            query = query.where(WebhookDeliveryRow.status == status.value)
        if cursor:
            (before,) = decode_cursor(cursor, 1)
            query = query.where(WebhookDeliveryRow.id < str(before))
        async with self._db.read() as s:
            await self.destination(s, principal, dest_id)
            rows = list((await s.scalars(query)).all())
        items = rows[:limit]
        more = len(rows) > limit
        return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)

    async def _delivery(
        self, s: AsyncSession, principal: Principal, dest_id: str, delivery_id: str
    ) -> WebhookDeliveryRow:
        await self.destination(s, principal, dest_id)
        row = await s.get(WebhookDeliveryRow, delivery_id)
        if row is None or row.webhook_id != dest_id:
            raise NotFound("delivery not found", code="delivery_not_found")
        return row

    async def delivery(
        self, principal: Principal, dest_id: str, delivery_id: str
    ) -> DeliveryDetail:
        """One delivery with every attempt, oldest attempt first."""
        principal.require(Role.ADMIN)
        async with self._db.read() as s:
            row = await self._delivery(s, principal, dest_id, delivery_id)
            attempts = (
                await s.scalars(
                    select(WebhookAttemptRow)
                    .where(WebhookAttemptRow.delivery_id == delivery_id)
                    .order_by(WebhookAttemptRow.id)
                )
            ).all()
        return DeliveryDetail(delivery=row, attempts=list(attempts))

    async def redeliver(
        self, principal: Principal, dest_id: str, delivery_id: str
    ) -> WebhookDeliveryRow:
        """Queue the delivery again, due now; its earlier attempts stay in the log."""
        principal.require(Role.ADMIN)
        now = self._clock.now()
        async with self._db.write() as s:
            dest = await self.destination(s, principal, dest_id)
            if not dest.enabled:
                raise Conflict(
                    f"the {self._noun} is disabled; enable it first",
                    code=f"{self._noun}_disabled",
                )
            row = await self._delivery(s, principal, dest_id, delivery_id)
            await s.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == row.id)
                .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now)
            )
            await s.refresh(row)
        self._dispatcher.wake(dest_id)
        return row
