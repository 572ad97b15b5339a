"""Event exports: broker destinations per organization, their delivery log, redelivery.

An export is a row of the webhooks' table with a broker ``kind`` (``rabbitmq`` or
``nats``), delivered by the same dispatcher and workers (``zapgate.exports`` holds the
transports). Its URL carries the broker's credentials: the row keeps the URL masked in
``url`` and the credentials sealed in ``secret`` (``exports.credentials``), so what is
read from it can be shown anywhere; only the transport puts them back together.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select, update

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.errors import Invalid
from zapgate.domain.ids import new_id
from zapgate.domain.roles import Role
from zapgate.exports.addresses import DEFAULT_PREFIX, KIND_NATS, KIND_RABBITMQ, KINDS
from zapgate.exports.addresses import check_broker_url as _check_url
from zapgate.exports.credentials import StoredUrl, conceal, context, needs_sealing
from zapgate.services.context import Principal
from zapgate.services.deliveries import DeliveryDetail, DeliveryLog
from zapgate.services.webhooks import event_filter
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, page_by_id
from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow
from zapgate.util.clock import Clock
from zapgate.util.secretbox import SecretBox, SecretUnreadable
from zapgate.webhooks.dispatcher import WebhookDispatcher
from zapgate.webhooks.fanout import forget_targets

log = logging.getLogger(__name__)

_UNSET: Any = object()
_TOKEN = r"[A-Za-z0-9_-]+"
_PREFIX = re.compile(rf"{_TOKEN}(\.{_TOKEN})*")
_STREAM = re.compile(_TOKEN)
"""JetStream stream names: no dots, wildcards, spaces or path separators."""
_EXCHANGE = re.compile(r"[A-Za-z0-9_.:-]+")
"""AMQP exchange names (RabbitMQ allows these; not the default exchange, which routes by
queue name and would ignore the routing key)."""


def _name(value: str | None, pattern: re.Pattern[str], what: str, limit: int) -> str:
    if not value:
        raise Invalid(f"{what} is required for this kind of export", code=f"{what}_required")
    if len(value) > limit or not pattern.fullmatch(value):
        raise Invalid(
            f"{what} must be 1 to {limit} characters of {pattern.pattern}",
            code=f"invalid_{what}",
        )
    return value


def _prefix(value: str | None) -> str:
    if value is None:
        return DEFAULT_PREFIX
    return _name(value, _PREFIX, "subject_prefix", 100)


class ExportService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        dispatcher: WebhookDispatcher,
        *,
        allow_private: bool,
        box: SecretBox,
    ) -> None:
        self._db = db
        self._clock = clock
        self._dispatcher = dispatcher
        self._allow_private = allow_private
        self._box = box
        self._log = DeliveryLog(db, clock, dispatcher, kinds=KINDS, noun="export")

    async def _url(self, kind: str, export_id: str, url: str) -> StoredUrl:
        checked = await _check_url(kind, url.strip(), allow_private=self._allow_private)
        return conceal(self._box, export_id, checked)

    @staticmethod
    def _target(kind: str, exchange: str | None, stream: str | None) -> dict[str, str | None]:
        if kind == KIND_RABBITMQ:
            return {"exchange": _name(exchange, _EXCHANGE, "exchange", 255), "stream": None}
        if kind == KIND_NATS:
            return {"stream": _name(stream, _STREAM, "stream", 255), "exchange": None}
        raise Invalid(f"kind must be one of {sorted(KINDS)}", code="invalid_kind")

    # ------------------------------------------------------------ exports

    async def create(
        self,
        principal: Principal,
        *,
        kind: str,
        url: str,
        exchange: str | None = None,
        stream: str | None = None,
        subject_prefix: str | None = None,
        events: list[str] | None = None,
        connection_id: str | None = None,
        enabled: bool = True,
        description: str | None = None,
    ) -> WebhookRow:
        principal.require(Role.ADMIN)
        target = self._target(kind, exchange, stream)
        export_id = new_id()
        stored = await self._url(kind, export_id, url)
        now = self._clock.now()
        async with self._db.write() as s:
            await self._log.check_connection(s, principal, connection_id)
            row = WebhookRow(
                id=export_id,
                organization_id=principal.organization_id,
                kind=kind,
                url=stored.url,
                subject_prefix=_prefix(subject_prefix),
                events=event_filter(events),
                connection_id=connection_id,
                # Nothing is signed (the broker authenticates the publisher): the
                # secret is the broker's credentials, sealed.
                secret=stored.secret,
                enabled=enabled,
                ordered=True,
                description=description,
                failure_streak=0,
                created_at=now,
                updated_at=now,
                **target,
            )
            s.add(row)
            forget_targets(s)
        self._dispatcher.sync(row, row.id)
        return row

    async def find(
        self, principal: Principal, *, limit: int = 50, cursor: str | None = None
    ) -> Page[WebhookRow]:
        principal.require(Role.ADMIN)
        check_limit(limit)
        query = (
            select(WebhookRow)
            .where(
                WebhookRow.organization_id == principal.organization_id,
                WebhookRow.kind.in_(KINDS),
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

    async def get(self, principal: Principal, export_id: str) -> WebhookRow:
        principal.require(Role.ADMIN)
        async with self._db.read() as s:
            return await self._log.destination(s, principal, export_id)

    async def update(
        self,
        principal: Principal,
        export_id: str,
        *,
        url: str = _UNSET,
        exchange: str | None = _UNSET,
        stream: str | None = _UNSET,
        subject_prefix: str | None = _UNSET,
        events: list[str] | None = _UNSET,
        connection_id: str | None = _UNSET,
        enabled: bool = _UNSET,
        description: str | None = _UNSET,
    ) -> WebhookRow:
        principal.require(Role.ADMIN)
        changes: dict[str, Any] = {}
        if events is not _UNSET:
            changes["events"] = event_filter(events)
        if subject_prefix is not _UNSET:
            changes["subject_prefix"] = _prefix(subject_prefix)
        if description is not _UNSET:
            changes["description"] = description
        async with self._db.read() as s:
            kind = (await self._log.destination(s, principal, export_id)).kind
        if url is not _UNSET:
            stored = await self._url(kind, export_id, url)
            changes.update(url=stored.url, secret=stored.secret)
        if exchange is not _UNSET and kind == KIND_RABBITMQ:
            changes.update(self._target(kind, exchange, None))
        if stream is not _UNSET and kind == KIND_NATS:
            changes.update(self._target(kind, None, stream))
        async with self._db.write() as s:
            row = await self._log.destination(s, principal, export_id)
            if connection_id is not _UNSET:
                await self._log.check_connection(s, principal, connection_id)
                changes["connection_id"] = connection_id
            if enabled is not _UNSET:
                changes["enabled"] = enabled
                if enabled and not row.enabled:
                    changes.update(failure_streak=0, failing_since=None, disabled_reason=None)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = self._clock.now()
            forget_targets(s)
        self._dispatcher.sync(row, row.id)
        return row

    async def delete(self, principal: Principal, export_id: str) -> None:
        principal.require(Role.ADMIN)
        async with self._db.write() as s:
            row = await self._log.destination(s, principal, export_id)
            await s.delete(row)
            forget_targets(s)
        self._dispatcher.sync(None, export_id)

    async def seal_stored(self) -> None:
        """At start, before any worker reads them: seal the credentials of exports saved
        before encryption (their whole URL in plain text), and say which exports' sealed
        credentials this server's key cannot open (``SECRET_KEY`` changed), whose
        deliveries will fail until their URL is saved again. Safe to run on every
        start and on several servers at once: a row is rewritten only if unchanged."""
        async with self._db.read() as s:
            rows = (
                await s.execute(
                    select(WebhookRow.id, WebhookRow.url, WebhookRow.secret).where(
                        WebhookRow.kind.in_(KINDS)
                    )
                )
            ).all()
        sealed = 0
        unreadable: list[str] = []
        for export_id, url, secret in rows:
            if secret:
                try:
                    self._box.open(secret, context=context(export_id))
                except SecretUnreadable:
                    unreadable.append(export_id)
                continue
            if not needs_sealing(url, secret):
                continue
            try:
                stored = conceal(self._box, export_id, url)
            except Invalid as exc:
                # Too long for the column: it keeps working as it is; a shorter
                # password (saved through the API or the panel) gets it sealed.
                log.warning(
                    "export credentials left unencrypted",
                    extra={"export_id": export_id, "reason": exc.code},
                )
                continue
            async with self._db.write() as s:
                done = await s.execute(
                    update(WebhookRow)
                    .where(
                        WebhookRow.id == export_id,
                        WebhookRow.secret == "",
                        WebhookRow.url == url,
                    )
                    .values(url=stored.url, secret=stored.secret)
                )
            sealed += int(getattr(done, "rowcount", 0) or 0)
        if sealed:
            log.info("encrypted the stored credentials of exports", extra={"exports": sealed})
        if unreadable:
            log.warning(
                "export credentials cannot be decrypted with this SECRET_KEY; their "
                "deliveries fail until their URL is saved again",
                extra={"export_ids": ",".join(unreadable)},
            )

    def problems(self) -> dict[str, str]:
        """The latest error of each export whose latest publish failed (``/readyz``)."""
        return self._dispatcher.failing(KINDS)

    # ------------------------------------------------------------ deliveries

    async def deliveries(
        self,
        principal: Principal,
        export_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[WebhookDeliveryRow]:
        return await self._log.deliveries(
            principal, export_id, status=status, limit=limit, cursor=cursor
        )

    async def delivery(
        self, principal: Principal, export_id: str, delivery_id: str
    ) -> DeliveryDetail:
        return await self._log.delivery(principal, export_id, delivery_id)

    async def redeliver(
        self, principal: Principal, export_id: str, delivery_id: str
    ) -> WebhookDeliveryRow:
        return await self._log.redeliver(principal, export_id, delivery_id)
