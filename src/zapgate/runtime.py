"""The composition root: builds every component from settings, starts and stops them.

Order matters both ways: the database before the services that use it, the engine
before the supervisor that drives it; shutdown runs in reverse so nothing is used
after it is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from zapgate.compat.evolution.events import evolution_body
from zapgate.config import Settings
from zapgate.engines.base import Engine
from zapgate.engines.factory import build_engine
from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.events.bus import EventBus
from zapgate.events.log import event_hooks, last_event_id
from zapgate.events.retention import RetentionTask
from zapgate.events.stream import EventStreams
from zapgate.services.accounts import AccountService
from zapgate.services.connections import ConnectionService
from zapgate.services.events import EventService
from zapgate.services.instances import InstanceService
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
from zapgate.webhooks.dispatcher import DeliveryPolicy, WebhookDispatcher
from zapgate.webhooks.fanout import enqueue_deliveries
from zapgate.webhooks.retention import prune_deliveries

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[str | None]]
"""Answers None when healthy, else a short reason."""


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
    messaging: Messaging  # issue 5: sending, inbox, media, templates
    simulation: SimulationService | None = None
    instances: InstanceService = field(init=False)
    """Connections by name and instance tokens (the Evolution API layer's needs)."""
    ready_checks: dict[str, ReadyCheck] = field(default_factory=dict)
    _stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # --- events, webhooks, metrics (issue 6); built by _build_events()
    streams: EventStreams = field(init=False)
    events: EventService = field(init=False)
    webhook_dispatcher: WebhookDispatcher = field(init=False)
    webhooks: WebhookService = field(init=False)
    retention: RetentionTask = field(init=False)
    metrics: MetricsService = field(init=False)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        clock = clock or SystemClock()
        settings.ensure_data_dir()
        db = Database(settings.resolved_database_url)
        # Every event queues its webhook deliveries in its own transaction, whoever
        # writes it (services, sessions, the CLI): both commit or neither does.
        event_hooks(db).add(enqueue_deliveries)
        bus = EventBus()
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
        engine = build_engine(settings, clock)
        supervisor = Supervisor(
            engine=engine,
            db=db,
            clock=clock,
            health_interval=settings.health_check_interval,
            restore_concurrency=settings.restore_concurrency,
            restore_jitter=settings.restore_jitter,
            status_payload=connection_status_payload,
        )
        connections = ConnectionService(
            db,
            clock,
            supervisor,
            max_global=settings.max_connections,
            max_per_org=settings.org_connection_cap,
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
            messaging=Messaging.build(settings, db, clock, supervisor),
        )
        if isinstance(engine, SimulatorEngine):
            runtime.simulation = SimulationService(
                engine, connections, max_media=settings.max_media_bytes
            )
        runtime.instances = InstanceService(
            db, clock, connections, runtime.messaging.lookups
        )
        runtime.ready_checks["database"] = runtime._check_db
        runtime.ready_checks["engine"] = runtime._check_engine
        runtime.ready_checks["outbox"] = runtime._check_outbox
        runtime._build_events()
        return runtime

    def _build_events(self) -> None:
        s = self.settings
        self.streams = EventStreams(self.db, self.bus, queue_size=s.stream_queue_size)
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
        )
        policy = DeliveryPolicy(
            timeout=s.webhook_timeout,
            allow_private=s.webhook_allow_private,
            concurrency=s.webhook_concurrency,
            retry_window=timedelta(hours=s.webhook_retry_hours),
            disable_after=timedelta(hours=s.webhook_disable_after_hours),
        )
        # Webhook bodies in other products' formats (a webhook's ``format``).
        self.webhook_dispatcher = WebhookDispatcher(
            self.db,
            self.clock,
            policy,
            observer=self.metrics,
            formats={"evolution": evolution_body},
        )
        self.webhooks = WebhookService(
            self.db, self.clock, self.webhook_dispatcher, allow_private=s.webhook_allow_private
        )
        self.retention = RetentionTask(self.db, self.clock, days=s.event_retention_days)
        self.retention.add(prune_deliveries)

        async def webhooks_ready() -> str | None:
            return self.webhook_dispatcher.problem()

        async def retention_ready() -> str | None:
            return self.retention.problem()

        self.ready_checks["webhooks"] = webhooks_ready
        self.ready_checks["event_retention"] = retention_ready

    async def _start_events(self) -> None:
        # Live streams count lag from here, not from the first event of a past run.
        async with self.db.read() as session:
            self.bus.last_id = max(self.bus.last_id, await last_event_id(session))
        await self.webhook_dispatcher.start()
        self._stops.append(self.webhook_dispatcher.close)
        self.retention.start()
        self._stops.append(self.retention.close)

        async def end_streams() -> None:
            self.streams.close()

        self._stops.append(end_streams)

    async def _check_db(self) -> str | None:
        try:
            await self.db.ping()
        except Exception as exc:
            return f"database unreachable: {type(exc).__name__}"
        return self.db.problem()

    async def _check_engine(self) -> str | None:
        return self.engine.problem()

    async def _check_outbox(self) -> str | None:
        return self.messaging.sender.problem()

    async def start(self, *, migrate: bool = True, sessions: bool = True) -> None:
        """Start the runtime; ``sessions=False`` (CLI commands) runs no engine or worker."""
        if migrate:
            await upgrade(self.db.engine)
        self._stops.append(self.db.close)
        await self._bootstrap_admin()
        if not sessions:
            return
        self.db.start()
        await self.supervisor.start()
        self._stops.append(self.supervisor.close)
        await self._start_events()
        # The outbox stops before the supervisor, so sends in flight finish first.
        await self.messaging.start()
        self._stops.append(self.messaging.stop)

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

    async def readiness(self) -> dict[str, str | None]:
        return {name: await check() for name, check in self.ready_checks.items()}
