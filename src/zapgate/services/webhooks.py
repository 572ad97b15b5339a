"""Webhooks: endpoints per organization, their delivery log and manual redelivery.

The secret signs every request. It is generated when not given, returned once by
``create`` and never again (the API has no field for it afterwards).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.errors import Conflict, Invalid
from zapgate.domain.events import Event, EventType
from zapgate.domain.ids import new_id
from zapgate.domain.roles import Role
from zapgate.events.log import append_event
from zapgate.services.context import Principal
from zapgate.services.deliveries import DeliveryDetail, DeliveryLog
from zapgate.services.events import parse_types
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, page_by_id
from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow
from zapgate.util.clock import Clock
from zapgate.webhooks.dispatcher import WebhookDispatcher
from zapgate.webhooks.fanout import ALL_EVENTS, forget_targets
from zapgate.webhooks.transport import KIND_HTTP
from zapgate.webhooks.urls import check_url

MIN_SECRET = 16
MAX_SECRET = 200
SECRET_PREFIX = "whsec_"
BODY_FORMATS = ("zapgate", "evolution")
"""Request bodies: zapgate's envelope, or Evolution API's (``compat/evolution``)."""

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    webhook: WebhookRow
    secret: str


def _secret(value: str | None) -> str:
    if value is None:
        return SECRET_PREFIX + secrets.token_urlsafe(32)
    if not MIN_SECRET <= len(value) <= MAX_SECRET:
        raise Invalid(
            f"secret must have {MIN_SECRET} to {MAX_SECRET} characters", code="invalid_secret"
        )
    return value


def _format(value: str) -> str:
    if value not in BODY_FORMATS:
        raise Invalid(f"format must be one of {', '.join(BODY_FORMATS)}", code="invalid_format")
    return value


def event_filter(values: list[str] | None) -> list[str]:
    if values is None:
        return [ALL_EVENTS]
    # An empty list means "no filter", like an omitted one: a webhook that wants
    # nothing would be a silent trap.
    found = parse_types(values, allow_all=True)
    if not found or ALL_EVENTS in found:
        return [ALL_EVENTS]
    return found


class WebhookService:
    def __init__(
        self, db: Database, clock: Clock, dispatcher: WebhookDispatcher, *, allow_private: bool
    ) -> None:
        self._db = db
        self._clock = clock
        self._dispatcher = dispatcher
        self._allow_private = allow_private
        # Event exports share the table (``kind``); they are not webhooks here.
        self._log = DeliveryLog(db, clock, dispatcher, kinds=frozenset({KIND_HTTP}), noun="webhook")

    async def _get(self, s: AsyncSession, principal: Principal, webhook_id: str) -> WebhookRow:
        return await self._log.destination(s, principal, webhook_id)

    async def _check_connection(
        self, s: AsyncSession, principal: Principal, connection_id: str | None
    ) -> None:
        await self._log.check_connection(s, principal, connection_id)

    async def _url(self, url: str) -> str:
        return await check_url(url.strip(), allow_private=self._allow_private)

    # ------------------------------------------------------------ endpoints

    async def create(
        self,
        principal: Principal,
        *,
        url: str,
        events: list[str] | None = None,
        connection_id: str | None = None,
        secret: str | None = None,
        enabled: bool = True,
        ordered: bool = False,
        description: str | None = None,
        format: str = "zapgate",
        options: dict[str, Any] | None = None,
    ) -> CreatedWebhook:
        principal.require(Role.ADMIN)
        body_format = _format(format)
        clean_url = await self._url(url)
        kinds = event_filter(events)
        key = _secret(secret)
        now = self._clock.now()
        async with self._db.write() as s:
            await self._check_connection(s, principal, connection_id)
            row = WebhookRow(
                id=new_id(),
                organization_id=principal.organization_id,
                url=clean_url,
                events=kinds,
                connection_id=connection_id,
                secret=key,
                enabled=enabled,
                ordered=ordered,
                description=description,
                format=body_format,
                options=options,
                failure_streak=0,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            forget_targets(s)
        self._dispatcher.sync(row, row.id)
        return CreatedWebhook(webhook=row, secret=key)

    async def find(
        self, principal: Principal, *, limit: int = 50, cursor: str | None = None
    ) -> Page[WebhookRow]:
        principal.require(Role.ADMIN)
        check_limit(limit)
        query = (
            select(WebhookRow)
            .where(
                WebhookRow.organization_id == principal.organization_id,
                WebhookRow.kind == KIND_HTTP,
            )
            .order_by(WebhookRow.id)
            .limit(limit + 1)
        )
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(WebhookRow.id > str(after))
        async with self._db.read() as s:
            rows = list((await s.scalars(query)).all())
        return page_by_id(rows, limit)

    async def of_connection(
        self, principal: Principal, connection_id: str, *, format: str
    ) -> WebhookRow | None:
        """The oldest webhook of this body format that only this connection feeds."""
        principal.require(Role.ADMIN)
        async with self._db.read() as s:
            return await s.scalar(
                select(WebhookRow)
                .where(
                    WebhookRow.organization_id == principal.organization_id,
                    WebhookRow.connection_id == connection_id,
                    WebhookRow.format == format,
                )
                .order_by(WebhookRow.id)
                .limit(1)
            )

    async def get(self, principal: Principal, webhook_id: str) -> WebhookRow:
        principal.require(Role.ADMIN)
        async with self._db.read() as s:
            return await self._get(s, principal, webhook_id)

    async def update(
        self,
        principal: Principal,
        webhook_id: str,
        *,
        url: str = _UNSET,
        events: list[str] | None = _UNSET,
        connection_id: str | None = _UNSET,
        secret: str | None = _UNSET,
        enabled: bool = _UNSET,
        ordered: bool = _UNSET,
        description: str | None = _UNSET,
        format: str = _UNSET,
        options: dict[str, Any] | None = _UNSET,
    ) -> WebhookRow:
        principal.require(Role.ADMIN)
        changes: dict[str, Any] = {}
        if format is not _UNSET:
            changes["format"] = _format(format)
        if options is not _UNSET:
            changes["options"] = options
        if url is not _UNSET:
            changes["url"] = await self._url(url)
        if events is not _UNSET:
            changes["events"] = event_filter(events)
        if secret is not _UNSET:
            # Rotating: an explicit new secret, or None for a generated one the caller
            # cannot see (useful only to lock out a leaked secret).
            changes["secret"] = _secret(secret)
        if description is not _UNSET:
            changes["description"] = description
        if ordered is not _UNSET:
            changes["ordered"] = ordered
        async with self._db.write() as s:
            row = await self._get(s, principal, webhook_id)
            if connection_id is not _UNSET:
                await self._check_connection(s, principal, connection_id)
                changes["connection_id"] = connection_id
            if enabled is not _UNSET:
                changes["enabled"] = enabled
                if enabled and not row.enabled:
                    # A fresh start: the streak that disabled it is history.
                    changes.update(failure_streak=0, failing_since=None, disabled_reason=None)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = self._clock.now()
            forget_targets(s)
        self._dispatcher.sync(row, row.id)
        return row

    async def delete(self, principal: Principal, webhook_id: str) -> None:
        principal.require(Role.ADMIN)
        async with self._db.write() as s:
            row = await self._get(s, principal, webhook_id)
            await s.delete(row)
            forget_targets(s)
        self._dispatcher.sync(None, webhook_id)

    async def send_test(self, principal: Principal, webhook_id: str) -> Event:
        """A ``webhook.test`` event for this webhook alone: a real delivery through the
        pipeline (queued with the event, signed, retried, logged) like any other."""
        principal.require(Role.ADMIN)
        async with self._db.write() as s:
            row = await self._get(s, principal, webhook_id)
            if not row.enabled:
                raise Conflict(
                    "the webhook is disabled; enable it to send a test", code="webhook_disabled"
                )
            event = await append_event(
                s,
                organization_id=principal.organization_id,
                type=EventType.WEBHOOK_TEST.value,
                # Not the URL: managers read the event log, and only admins may see it.
                data={"webhook_id": row.id, "test": True},
                created_at=self._clock.now(),
            )
        # A paused endpoint (failing every attempt) is tried now: the test is its newest
        # delivery, the one its probe takes.
        self._dispatcher.wake(webhook_id)
        return event

    # ------------------------------------------------------------ deliveries

    async def deliveries(
        self,
        principal: Principal,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[WebhookDeliveryRow]:
        """The delivery log, newest first."""
        return await self._log.deliveries(
            principal, webhook_id, status=status, limit=limit, cursor=cursor
        )

    async def delivery(
        self, principal: Principal, webhook_id: str, delivery_id: str
    ) -> DeliveryDetail:
        """One delivery with every attempt, oldest attempt first."""
        return await self._log.delivery(principal, webhook_id, delivery_id)

    async def redeliver(
        self, principal: Principal, webhook_id: str, delivery_id: str
    ) -> WebhookDeliveryRow:
        """Queue the delivery again, due now; its earlier attempts stay in the log."""
        return await self._log.redeliver(principal, webhook_id, delivery_id)
