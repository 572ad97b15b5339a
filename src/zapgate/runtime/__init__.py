"""The composition root: builds every component from settings, starts and stops them.

Order matters both ways: the database before the services that use it, the engine
before the supervisor that drives it; shutdown runs in reverse so nothing is used
after it is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from zapgate.cluster.leader import Leadership
from zapgate.cluster.leases import LEASES
from zapgate.cluster.node import ClusterNode, idle_limit, node_identity
from zapgate.cluster.startup import SqliteServerLock, startup_section
from zapgate.cluster.wakeups import notify_at_commit
from zapgate.config import Settings
from zapgate.engines.base import Engine
from zapgate.engines.factory import build_engine, ensure_engine_usable
from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.events.bus import EventBus
from zapgate.events.log import event_hooks, last_event_id
from zapgate.events.retention import RetentionTask
from zapgate.events.stream import EventStreams
from zapgate.events.tail import LogTail
from zapgate.outbox.sender import OutboxSender
from zapgate.runtime.deliveries import build_deliveries
from zapgate.services.accounts import AccountService
from zapgate.services.cluster import ClusterService, share_credential_changes
from zapgate.services.connections import ConnectionService
from zapgate.services.events import EventService
from zapgate.services.exports import ExportService
from zapgate.services.instances import InstanceService
from zapgate.services.media_blobs import media_store, prune_orphan_blobs
from zapgate.services.messaging import Messaging
from zapgate.services.metrics import MetricsService
from zapgate.services.payloads import connection_status_payload
from zapgate.services.ratelimit import LoginThrottle
from zapgate.services.security import Passwords, TokenService
from zapgate.services.simulation import SimulationService
from zapgate.services.webhooks import WebhookService
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.store.migrate import upgrade
from zapgate.util.clock import Clock, SystemClock
from zapgate.util.secretbox import SecretBox
from zapgate.webhooks.dispatcher import WebhookDispatcher
from zapgate.webhooks.fanout import enqueue_deliveries
from zapgate.webhooks.retention import prune_deliveries

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ReadyCheck = Callable[[], Awaitable[str | None]]  # None when healthy, else a short reason


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    db: Database
    bus: EventBus
    accounts: AccountService
    engine: Engine
    supervisor: Supervisor
    connections: ConnectionService
    messaging: Messaging  # sending, inbox, media, templates
    sender: OutboxSender  # drains the outbox: drives the messaging use cases
    simulation: SimulationService | None = None
    node: ClusterNode | None = None  # this node of a cluster (ZAPGATE_CLUSTER), else None
    tail: LogTail | None = None  # in a cluster: feeds the bus from the log (every node's)
    leadership: Leadership | None = None  # in a cluster: whether this node delivers now
    cluster: ClusterService = field(init=False)
    instances: InstanceService = field(init=False)  # names, instance tokens (Evolution)
    ready_checks: dict[str, ReadyCheck] = field(default_factory=dict)
    _stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # --- events, webhooks, metrics; built by _build_events()
    streams: EventStreams = field(init=False)
    events: EventService = field(init=False)
    webhook_dispatcher: WebhookDispatcher = field(init=False)
    webhooks: WebhookService = field(init=False)
    exports: ExportService = field(init=False)
    retention: RetentionTask = field(init=False)
    metrics: MetricsService = field(init=False)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        clock = clock or SystemClock()
        settings.ensure_data_dir()
        db = Database(
            settings.resolved_database_url,
            synchronous=settings.sqlite_synchronous.value,
            # A node paused inside a transaction holds its locks (the event log's, rows
            # the others claim) no longer than a third of a lease.
            idle_in_transaction=idle_limit(settings.lease_seconds) if settings.clustered else None,
        )
        # Every event queues its webhook deliveries in its own transaction, whoever
        # writes it (services, sessions, the CLI): both commit or neither does.
        event_hooks(db).add(enqueue_deliveries)
        bus = EventBus()
        tail = None
        if settings.clustered:
            # Every node's events reach every node's streams through the log.
            tail = LogTail(db, bus, clock)
            db.on_commit(tail.wake)
            event_hooks(db).add(notify_at_commit())
        else:
            db.on_commit(bus.publish)
        tokens = TokenService(settings.secret(), settings.access_token_ttl)
        passwords = Passwords(
            time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
        )
        accounts = AccountService(
            db,
            clock,
            tokens,
            LoginThrottle(db, clock),
            passwords,
            principal_cache_seconds=settings.auth_cache_seconds,
        )
        node = None
        if settings.clustered:
            identity = node_identity(
                settings.node_id,
                settings.node_url,
                settings.max_connections,
                settings.lease_seconds,
            )
            node = ClusterNode(db, clock, identity)
        engine = build_engine(settings, clock, node=node.id if node else None)
        supervisor = Supervisor(
            engine=engine,
            db=db,
            clock=clock,
            health_interval=settings.health_check_interval,
            restore_concurrency=settings.restore_concurrency,
            restore_jitter=settings.restore_jitter,
            status_payload=connection_status_payload,
            # Connections' proxy URLs are sealed under a key from SECRET_KEY.
            box=SecretBox(settings.secret()),
            node_id=node.id if node else None,
            capacity=settings.max_connections,
        )
        connections = ConnectionService(
            db,
            clock,
            supervisor,
            max_global=settings.max_connections,
            max_per_org=settings.org_connection_cap,
            secret=settings.secret(),
            node_timeout=settings.node_timeout,
        )
        store = media_store(settings.data_dir / "media", db, clock, clustered=settings.clustered)
        sender = OutboxSender(
            db,
            clock,
            supervisor,
            store,
            rate_per_minute=settings.outbox_rate_limit_per_minute,
            jitter=settings.outbox_rate_jitter,
            daily_cap=settings.outbox_daily_cap,
            unavailable_timeout=settings.outbox_unavailable_timeout,
            max_attempts=settings.outbox_max_attempts,
            poll_interval=settings.outbox_poll_interval,
        )
        messaging = Messaging.build(
            settings,
            db,
            clock,
            supervisor,
            commands=connections.commands,
            store=store,
            on_accept=sender.wake,
        )
        runtime = cls(
            settings=settings,
            clock=clock,
            db=db,
            bus=bus,
            accounts=accounts,
            engine=engine,
            supervisor=supervisor,
            connections=connections,
            messaging=messaging,
            sender=sender,
            node=node,
            tail=tail,
        )
        runtime.cluster = ClusterService(node)
        if isinstance(engine, SimulatorEngine):
            runtime.simulation = SimulationService(
                engine, connections, max_media=settings.max_media_bytes, node=node
            )
        runtime.instances = InstanceService(db, clock, connections, runtime.messaging.lookups)
        runtime.ready_checks["database"] = runtime._check_db
        runtime.ready_checks["engine"] = _async(runtime.engine.problem)
        runtime.ready_checks["outbox"] = _async(runtime.sender.problem)
        runtime._build_events()
        return runtime

    def _build_events(self) -> None:
        s = self.settings
        self.streams = EventStreams(
            self.db,
            self.bus,
            clock=self.clock,
            queue_size=s.stream_queue_size,
            auth_interval=s.stream_auth_interval,
        )
        # Credentials changed here or on a node reach streams at once; else at a recheck.
        self.accounts.on_credentials_changed(self.streams.guards.credentials_changed)
        share_credential_changes(self.accounts, self.node)
        self.events = EventService(self.db, self.streams)
        self.metrics = MetricsService(
            db=self.db,
            clock=self.clock,
            bus=self.bus,
            streams=self.streams,
            engine=self.engine,
            webhook_workers=lambda: (
                self.webhook_dispatcher.workers,
                self.webhook_dispatcher.restarts,
            ),
            node_id=self.node.id if self.node else None,
        )
        deliveries = build_deliveries(
            s,
            self.db,
            self.clock,
            observer=self.metrics,
            read_media=self.messaging.media.for_delivery,
        )
        self.webhook_dispatcher = deliveries.dispatcher
        self.webhooks = deliveries.webhooks
        self.exports = deliveries.exports
        self.retention = RetentionTask(self.db, self.clock, days=s.event_retention_days)
        self.retention.add(prune_deliveries)
        if s.clustered:
            self.retention.add(prune_orphan_blobs)

        async def webhooks_ready() -> str | None:
            if self.leadership is not None and not self.leadership.leader:
                return None  # another node of the cluster delivers
            return self.webhook_dispatcher.problem()

        async def retention_ready() -> str | None:
            return self.retention.problem()

        self.ready_checks["webhooks"] = webhooks_ready
        self.ready_checks["event_retention"] = retention_ready

    async def _start_events(self) -> None:
        # Live streams count lag from here, not from the first event of a past run.
        async with self.db.read() as session:
            self.bus.last_id = max(self.bus.last_id, await last_event_id(session))
        # Before the workers read them: exports saved before their credentials were
        # encrypted get them sealed now.
        await self.exports.seal_stored()
        if self.tail is not None and self.node is not None:
            tail = self.tail
            self.node.wakeups.subscribe(lambda payload: tail.wake() if payload != LEASES else None)
            # Other nodes' events wake the webhook workers too.
            tail.listeners.append(self.webhook_dispatcher.notify)
            tail.wanted.append(lambda: self.webhook_dispatcher.delivering)
            await tail.start()
            self._stops.append(tail.close)
        if self.node is not None:
            # One node of the cluster delivers webhooks and exports at a time.
            dispatcher = self.webhook_dispatcher
            self.leadership = Leadership(
                self.db.url,
                self.clock,
                on_gain=dispatcher.start,
                on_lose=dispatcher.close,
                on_tick=dispatcher.refresh,
                # A paused leader delays deliveries as long as a lost lease delays
                # a connection (three pings at least).
                silence=max(self.settings.lease_seconds, 6.0),
            )
            dispatcher.may_claim = self.leadership.current
            await self.leadership.start()
            self._stops.append(self.leadership.close)
        else:
            await self.webhook_dispatcher.start()
            self._stops.append(self.webhook_dispatcher.close)
        self.retention.start()
        self._stops.append(self.retention.close)

        self._stops.append(self.streams.stop)

    async def _check_db(self) -> str | None:
        try:
            await self.db.ping()
        except Exception as exc:
            return f"database unreachable: {type(exc).__name__}"
        return self.db.problem()

    async def start(self, *, migrate: bool = True, sessions: bool = True) -> None:
        """Start the runtime; ``sessions=False`` (CLI commands) runs no engine or worker.

        Raises :class:`~zapgate.engines.factory.EngineUnavailable` before touching the
        database when the configured engine cannot run on this machine.
        """
        if sessions:
            await ensure_engine_usable(self.settings)
        if sessions and self.db.is_sqlite:
            lock = SqliteServerLock(self.db.url)
            lock.acquire()  # a second server on this SQLite file stops here
            self._stops.append(_async(lock.release))
        self._stops.append(self.db.close)
        # Nodes started together on one PostgreSQL: one migrates and creates the first
        # admin, the others wait and find both done.
        async with startup_section(self.db):
            if migrate:
                await upgrade(self.db.engine)
            await self._bootstrap_admin()
        if not sessions:
            return
        self.db.start()
        # Before any session opens: proxies saved before encryption get sealed now.
        await self.connections.seal_stored()
        node = self.node
        if node is not None:
            await node.start_listening()
            self._stops.append(node.wakeups.close)
            self._stops.append(node.close)
            self._stops.append(node.hand_over)
        await self.supervisor.start()
        self._stops.append(self.supervisor.close)
        if self.simulation is not None:
            self._stops.append(self.simulation.close)
        self._stops.append(self.connections.commands.close)
        if node is not None:
            await node.start_leases(self.supervisor)
            self._stops.append(node.stop_leases)
        await self._start_events()
        # Stopped in reverse: accepts flushed, then the send worker (sends in flight
        # finish), all before the supervisor closes the sessions they use.
        await self.sender.start()

        async def stop_messaging() -> None:
            await self.messaging.messages.close()
            await self.sender.close()
            await self.messaging.recorder.close()

        self._stops.append(stop_messaging)

    async def _bootstrap_admin(self) -> None:
        s = self.settings
        if s.admin_email is None or s.admin_password is None:
            return
        user = await self.accounts.bootstrap(
            email=s.admin_email,
            password=s.admin_password.get_secret_value(),
            org_name=s.admin_org,
        )
        if user is not None:
            log.info("created the first superadmin", extra={"email": user.email})

    async def stop(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            try:
                await stop()
            except Exception:
                log.exception("error during shutdown")

    def last_event_id(self) -> int:
        return self.bus.last_id

    async def readiness(self) -> dict[str, str | None]:
        return {name: await check() for name, check in self.ready_checks.items()}

    def readiness_details(self) -> dict[str, dict[str, str]]:
        """What is failing without making the server unready: an export whose broker
        refuses it (down, wrong credentials, no such exchange) holds up only itself, so
        it is reported here, by export id, and ``/readyz`` stays 200."""
        problems = self.exports.problems()
        return {"exports": problems} if problems else {}


def _async(call: Callable[[], _T]) -> Callable[[], Awaitable[_T]]:
    async def run() -> _T:
        return call()

    return run
