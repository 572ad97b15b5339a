"""Prometheus metrics: one registry per app, nothing global.

Two kinds of numbers. Counters and histograms that only this process sees (webhook
attempts, delivery lag, stream drops) are updated as things happen. State that lives
in the database (connections by state, message totals, outbox depth, pending
deliveries) is read once per scrape into a snapshot that a custom collector exposes,
so a scrape costs a handful of aggregate queries and nothing runs between scrapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.messages import SENT_STATUSES, Direction, MessageStatus
from zapgate.events.bus import EventBus
from zapgate.events.log import last_event_id
from zapgate.events.stream import EventStreams
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.messages import MessageRow
from zapgate.store.tables.webhooks import WebhookDeliveryRow
from zapgate.util.clock import Clock

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_QUEUED = [MessageStatus.QUEUED.value, MessageStatus.SENDING.value]


@dataclass
class _Snapshot:
    connections: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    outbox_depth: int = 0
    outbox_oldest_age: float = 0.0
    deliveries: dict[str, int] = field(default_factory=dict)
    delivery_oldest_pending_age: float = 0.0
    event_db_last_id: int = 0
    event_bus_last_id: int = 0
    engine_restarts: int = 0
    webhook_workers: int = 0
    webhook_worker_restarts: int = 0
    streams_active: int = 0
    streams_dropped: int = 0


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _labelled(name: str, doc: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class _StateCollector(Collector):
    def __init__(self, node_id: str | None) -> None:
        self.snapshot = _Snapshot()
        self.node_id = node_id

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        if self.node_id is not None:
            node = GaugeMetricFamily(
                "zapgate_node",
                "This node of a cluster. Figures read from the database (connections, "
                "messages, outbox, webhook deliveries, event log last id) are the cluster's; "
                "workers, restarts, streams, attempts and the bus are this node's.",
                labels=["node_id"],
            )
            node.add_metric([self.node_id], 1)
            yield node
        yield _labelled("zapgate_connections", "Connections by state.", "state", s.connections)
        yield _labelled("zapgate_messages", "Stored messages by outcome.", "kind", s.messages)
        yield _gauge("zapgate_outbox_depth", "Outbound messages queued or sending.", s.outbox_depth)
        yield _gauge(
            "zapgate_outbox_oldest_age_seconds",
            "Age of the oldest queued outbound message.",
            s.outbox_oldest_age,
        )
        yield _labelled(
            "zapgate_webhook_deliveries", "Webhook deliveries by status.", "status", s.deliveries
        )
        yield _gauge(
            "zapgate_webhook_pending_oldest_age_seconds",
            "Age of the oldest pending webhook delivery (delivery lag).",
            s.delivery_oldest_pending_age,
        )
        yield _gauge("zapgate_webhook_workers", "Running webhook workers.", s.webhook_workers)
        yield _gauge(
            "zapgate_webhook_worker_restarts",
            "Webhook workers restarted after an error.",
            s.webhook_worker_restarts,
        )
        yield _gauge(
            "zapgate_engine_worker_restarts",
            "Engine worker processes restarted.",
            s.engine_restarts,
        )
        events = GaugeMetricFamily(
            "zapgate_event_log_last_id", "Last event id by where it was seen.", labels=["source"]
        )
        events.add_metric(["database"], s.event_db_last_id)
        events.add_metric(["bus"], s.event_bus_last_id)
        yield events
        yield _gauge(
            "zapgate_event_log_lag",
            "Events committed but not yet published to live streams (db last id - bus last id).",
            max(0, s.event_db_last_id - s.event_bus_last_id),
        )
        yield _gauge("zapgate_event_streams", "Open live event streams.", s.streams_active)
        yield _gauge(
            "zapgate_event_streams_dropped",
            "Live streams cut off for being too slow.",
            s.streams_dropped,
        )


REFRESH_INTERVAL = 5.0
"""Seconds a database snapshot serves scrapes: any scrape rate costs one read per interval."""


class MetricsService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        bus: EventBus,
        streams: EventStreams,
        engine: Any,
        webhook_workers: Callable[[], tuple[int, int]],
        node_id: str | None = None,
    ) -> None:
        """``node_id``: in a cluster, this node (named in ``zapgate_node``)."""
        self._db = db
        self._clock = clock
        self._bus = bus
        self._streams = streams
        self._engine = engine
        self._webhook_workers = webhook_workers
        self.registry = CollectorRegistry(auto_describe=True)
        self._state = _StateCollector(node_id)
        self.registry.register(self._state)
        self.webhook_attempts = Counter(
            "zapgate_webhook_attempts",
            "Webhook HTTP attempts by result.",
            ["result"],
            registry=self.registry,
        )
        self.webhook_lag = Histogram(
            "zapgate_webhook_delivery_lag_seconds",
            "Time from an event to its successful webhook delivery.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 3600, 86400),
            registry=self.registry,
        )
        self.webhook_duration = Histogram(
            "zapgate_webhook_request_seconds",
            "Duration of webhook HTTP attempts.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        # Children looked up once: ``labels()`` takes a lock and hashes on every call.
        self._attempt_ok = self.webhook_attempts.labels(result="success")
        self._attempt_failed = self.webhook_attempts.labels(result="failure")
        self._lock = asyncio.Lock()
        self._refreshed_at: float | None = None

    # DeliveryObserver: called by webhook workers.
    def attempted(self, ok: bool, duration: float) -> None:
        (self._attempt_ok if ok else self._attempt_failed).inc()
        self.webhook_duration.observe(duration)

    def delivered(self, lag: float) -> None:
        self.webhook_lag.observe(max(0.0, lag))

    def _age(self, since: datetime | None) -> float:
        return max(0.0, (self._clock.now() - since).total_seconds()) if since else 0.0

    async def _refresh(self) -> None:
        snap = _Snapshot()
        async with self._db.read() as s:
            rows = await s.execute(
                select(ConnectionRow.state, func.count()).group_by(ConnectionRow.state)
            )
            snap.connections = {str(state): int(n) for state, n in rows.all()}
            by_status = await s.execute(
                select(MessageRow.direction, MessageRow.status, func.count()).group_by(
                    MessageRow.direction, MessageRow.status
                )
            )
            snap.messages = {"sent": 0, "received": 0, "failed": 0}
            for direction, status, n in by_status.all():
                if direction == Direction.IN:
                    snap.messages["received"] += int(n)
                elif status in SENT_STATUSES:
                    snap.messages["sent"] += int(n)
                elif status == MessageStatus.FAILED.value:
                    snap.messages["failed"] += int(n)
            depth, oldest = (
                await s.execute(
                    select(func.count(), func.min(MessageRow.created_at)).where(
                        MessageRow.direction == Direction.OUT.value, MessageRow.status.in_(_QUEUED)
                    )
                )
            ).one()
            snap.outbox_depth = int(depth or 0)
            snap.outbox_oldest_age = self._age(oldest)
            rows = await s.execute(
                select(WebhookDeliveryRow.status, func.count()).group_by(WebhookDeliveryRow.status)
            )
            snap.deliveries = {str(status): int(n) for status, n in rows.all()}
            oldest_pending = await s.scalar(
                select(func.min(WebhookDeliveryRow.created_at)).where(
                    WebhookDeliveryRow.status == DeliveryStatus.PENDING.value
                )
            )
            snap.delivery_oldest_pending_age = self._age(oldest_pending)
            snap.event_db_last_id = await last_event_id(s)
        snap.event_bus_last_id = self._bus.last_id
        snap.engine_restarts = int(getattr(self._engine, "worker_restarts", 0) or 0)
        snap.webhook_workers, snap.webhook_worker_restarts = self._webhook_workers()
        snap.streams_active = self._streams.active
        snap.streams_dropped = self._streams.dropped
        self._state.snapshot = snap

    async def render(self) -> bytes:
        """The exposition text; the database state is read at most once per
        ``REFRESH_INTERVAL`` (the endpoint is open, and its counts scan whole tables), the
        process's own counters and histograms are always current."""
        async with self._lock:
            now = self._clock.monotonic()
            if self._refreshed_at is None or now - self._refreshed_at >= REFRESH_INTERVAL:
                await self._refresh()
                self._refreshed_at = now
            return generate_latest(self.registry)
