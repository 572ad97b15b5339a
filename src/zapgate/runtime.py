"""The composition root: builds every component from settings, starts and stops them.

Order matters both ways: the database before the services that use it, the engine
before the supervisor that drives it; shutdown runs in reverse so nothing is used
after it is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from zapgate.config import Settings
from zapgate.engines.base import Engine
from zapgate.engines.factory import build_engine
from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.events.bus import EventBus
from zapgate.services.accounts import AccountService
from zapgate.services.connections import ConnectionService
from zapgate.services.messaging import Messaging
from zapgate.services.ratelimit import LoginThrottle
from zapgate.services.security import Passwords, TokenService
from zapgate.services.simulation import SimulationService
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.store.migrate import upgrade
from zapgate.util.clock import Clock, SystemClock

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
    ready_checks: dict[str, ReadyCheck] = field(default_factory=dict)
    _stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        clock = clock or SystemClock()
        settings.ensure_data_dir()
        db = Database(settings.resolved_database_url)
        bus = EventBus()
        db.on_commit(bus.publish)
        tokens = TokenService(settings.secret(), settings.access_token_ttl)
        passwords = Passwords(
            time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
        )
        accounts = AccountService(db, clock, tokens, LoginThrottle(clock), passwords)
        engine = build_engine(settings, clock)
        supervisor = Supervisor(
            engine=engine,
            db=db,
            clock=clock,
            health_interval=settings.health_check_interval,
            restore_concurrency=settings.restore_concurrency,
            restore_jitter=settings.restore_jitter,
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
        runtime.ready_checks["database"] = runtime._check_db
        return runtime

    async def _check_db(self) -> str | None:
        try:
            await self.db.ping()
        except Exception as exc:
            return f"database unreachable: {type(exc).__name__}"
        return None

    async def start(self, *, migrate: bool = True, sessions: bool = True) -> None:
        """Start the runtime; ``sessions=False`` (CLI commands) runs no engine or worker."""
        if migrate:
            await upgrade(self.db.engine)
        self._stops.append(self.db.close)
        await self._bootstrap_admin()
        if not sessions:
            return
        await self.supervisor.start()
        self._stops.append(self.supervisor.close)
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
