"""The webhook dispatcher: one owned worker per enabled webhook.

Deliveries are created with their events (``fanout``); the dispatcher only
decides who sends them. After every commit that wrote events it wakes the workers of
that organization, so delivery starts at once; each worker also polls as a fallback.
Workers start with the server and follow webhook changes (``sync``); a worker whose
endpoint was disabled for failing stops itself. Event exports are destinations of
another ``kind`` in the same table: the same workers, with the transport the
``TransportFactory`` picks for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from zapgate.domain.events import Event
from zapgate.store.db import Database
from zapgate.store.tables.webhooks import WebhookRow
from zapgate.util.backoff import Backoff, BackoffConfig
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner
from zapgate.webhooks.bodies import BodyFormatter, RecentBodies
from zapgate.webhooks.transport import (
    KIND_HTTP,
    Endpoint,
    HttpTransport,
    Transport,
    TransportFactory,
)
from zapgate.webhooks.worker import DeliveryObserver, DeliveryPolicy, WebhookWorker

log = logging.getLogger(__name__)

__all__ = ["DeliveryPolicy", "Endpoint", "WebhookDispatcher"]


@dataclass
class _Slot:
    worker: WebhookWorker
    organization_id: str
    task_name: str = field(default="")


class WebhookDispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: DeliveryPolicy,
        *,
        observer: DeliveryObserver | None = None,
        formats: Mapping[str, BodyFormatter] | None = None,
    ) -> None:
        self._transports: TransportFactory = self.http_transport
        self._db = db
        self._formats = dict(formats or {})
        self._clock = clock
        self.policy = policy
        self._observer = observer
        self._tasks = TaskOwner("webhooks")
        self._slots: dict[str, _Slot] = {}
        self._bodies = RecentBodies()
        self._by_org: dict[str, set[str]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        """Each endpoint's latest worker task, until it ends: a worker stopped (the
        endpoint disabled) still finishes its requests in flight."""
        self._started = False
        self.restarts = 0
        self.may_claim: Callable[[], bool] | None = None
        """Asked by every worker before each claim (``WebhookWorker``): in a cluster,
        whether this node surely still leads (``cluster/leader.py``)."""
        db.on_commit(self.notify)

    async def start(self) -> None:
        async with self._db.read() as s:
            rows = (await s.scalars(select(WebhookRow).where(WebhookRow.enabled.is_(True)))).all()
        self._started = True
        for row in rows:
            self._ensure(row)
        log.info("webhook dispatcher started", extra={"workers": len(self._slots)})

    async def refresh(self) -> None:
        """Follow webhook changes made through other nodes of a cluster: start, update
        or stop workers to match the enabled webhooks in the table."""
        if not self._started:
            return
        async with self._db.read() as s:
            rows = (await s.scalars(select(WebhookRow).where(WebhookRow.enabled.is_(True)))).all()
        for row in rows:
            slot = self._slots.get(row.id)
            if slot is None or slot.worker.endpoint != self._endpoint(row):
                self._ensure(row)
        for webhook_id in set(self._slots) - {row.id for row in rows}:
            self._forget(webhook_id)

    async def close(self) -> None:
        self._started = False
        for slot in self._slots.values():
            slot.worker.stop()
        # Workers finish the requests in flight (bounded by the request timeout) and
        # record them; what is cut short stays pending and is retried after the restart.
        await self._tasks.close(timeout=self.policy.timeout + 2)
        self._slots.clear()
        self._by_org.clear()

    def use_transports(self, factory: TransportFactory) -> None:
        """Deliver through ``factory``'s transports (by kind) from now on; before
        ``start``. Webhooks alone need none: ``http_transport`` is the default."""
        self._transports = factory

    def http_transport(self, endpoint: Endpoint) -> Transport:
        """Webhooks' transport; a ``TransportFactory`` handing ``http`` endpoints here."""
        policy = self.policy
        # The client checks the URL's addresses on every new connection and connects to
        # one of those (``client``): a check here, before it resolves again, would be
        # the check a rebinding DNS name passes.
        return HttpTransport(
            endpoint,
            timeout=policy.timeout,
            concurrency=policy.concurrency,
            allow_private=policy.allow_private,
            formats=self._formats,
        )

    # ------------------------------------------------------------ membership

    def _ensure(self, row: WebhookRow) -> None:
        endpoint = self._endpoint(row)
        slot = self._slots.get(row.id)
        if slot is not None:
            slot.worker.update(endpoint)
            return
        self._add(row, endpoint)

    @staticmethod
    def _endpoint(row: WebhookRow) -> Endpoint:
        return Endpoint(
            id=row.id,
            organization_id=row.organization_id,
            url=row.url,
            secret=row.secret,
            # Exports are always ordered: events of a connection reach the broker in
            # id order, a batch at a time (``zapgate.exports``).
            ordered=row.ordered or row.kind != KIND_HTTP,
            kind=row.kind,
            exchange=row.exchange,
            stream=row.stream,
            subject_prefix=row.subject_prefix,
            format=row.format,
            options=dict(row.options or {}),
        )

    def _add(self, row: WebhookRow, endpoint: Endpoint) -> None:
        worker = WebhookWorker(
            endpoint,
            transport=self._transports(endpoint),
            db=self._db,
            clock=self._clock,
            policy=self.policy,
            observer=self._observer,
            on_disabled=self._forget,
            bodies=self._bodies,
            failed_in_a_row=row.failure_streak or 0,
            may_claim=self.may_claim,
        )
        self._slots[row.id] = _Slot(worker=worker, organization_id=row.organization_id)
        self._by_org.setdefault(row.organization_id, set()).add(row.id)
        previous = self._running.get(row.id)
        task = self._tasks.spawn(self._run(worker, previous), name=row.id)
        self._running[row.id] = task
        task.add_done_callback(lambda done: self._ended(row.id, done))
        self._slots[row.id].task_name = task.get_name()

    def _ended(self, webhook_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(webhook_id) is task:
            del self._running[webhook_id]

    async def _run(self, worker: WebhookWorker, previous: asyncio.Task[None] | None) -> None:
        # A bug or a database outage must not end deliveries for good: the worker is
        # restarted with backoff, and whatever it was doing is still pending in the table.
        backoff = Backoff(BackoffConfig(min_delay=1.0, max_delay=60.0))
        try:
            if previous is not None and not previous.done():
                # The endpoint's stopped worker (disabled, then enabled again) is still
                # finishing its requests: their rows are pending, and a new worker would
                # claim and send them again at the same time.
                await asyncio.wait({previous})
            while not worker.stopped:
                try:
                    await worker.run()
                except Exception:
                    self.restarts += 1
                    worker.crashing = True
                    log.exception("webhook worker failed", extra={"webhook_id": worker.endpoint.id})
                    await self._clock.sleep(backoff.next_delay())
        finally:
            await worker.aclose()
            slot = self._slots.get(worker.endpoint.id)
            if slot is not None and slot.worker is worker:
                self._forget(worker.endpoint.id)

    def _forget(self, webhook_id: str) -> None:
        slot = self._slots.pop(webhook_id, None)
        if slot is None:
            return
        slot.worker.stop()
        members = self._by_org.get(slot.organization_id)
        if members is not None:
            members.discard(webhook_id)
            if not members:
                del self._by_org[slot.organization_id]

    def sync(self, row: WebhookRow | None, webhook_id: str) -> None:
        """Follow a webhook change: start, update or stop its worker."""
        if not self._started:
            return
        if row is None or not row.enabled:
            self._forget(webhook_id)
            return
        self._ensure(row)

    # ------------------------------------------------------------ waking

    @property
    def delivering(self) -> bool:
        """Whether it runs any endpoint's worker (so wants to hear of new events)."""
        return bool(self._by_org)

    def notify(self, events: list[Event]) -> None:
        """After-commit hook: wake the workers of organizations that got events."""
        by_org = self._by_org
        self._bodies.remember(e for e in events if e.organization_id in by_org)
        for org in {e.organization_id for e in events}:
            for webhook_id in self._by_org.get(org, ()):
                self._slots[webhook_id].worker.wake()

    def wake(self, webhook_id: str) -> None:
        """A delivery of this webhook was made due again (manual redelivery)."""
        slot = self._slots.get(webhook_id)
        if slot is not None:
            slot.worker.requeued()

    # ------------------------------------------------------------ health

    def failing(self, kinds: frozenset[str]) -> dict[str, str]:
        """The latest error of each destination of these kinds whose latest attempt
        failed (readiness details: a broker refusing the credentials, say)."""
        return {
            wid: slot.worker.last_error
            for wid, slot in self._slots.items()
            if slot.worker.endpoint.kind in kinds and slot.worker.last_error is not None
        }

    @property
    def workers(self) -> int:
        return len(self._slots)

    def problem(self) -> str | None:
        """None while every enabled webhook has a live worker; else a short reason."""
        if not self._started:
            return "webhook dispatcher not running"
        alive = {t.get_name() for t in self._tasks.tasks if not t.done()}
        dead = [wid for wid, slot in self._slots.items() if slot.task_name not in alive]
        if dead:
            return f"{len(dead)} webhook worker(s) stopped unexpectedly"
        failing = [wid for wid, slot in self._slots.items() if slot.worker.crashing]
        if failing:
            return f"{len(failing)} webhook worker(s) failing and restarting"
        return None
