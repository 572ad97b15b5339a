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
from zapgate.events.bus import EventBus
from zapgate.services.accounts import AccountService
from zapgate.services.ratelimit import LoginThrottle
from zapgate.services.security import Passwords, TokenService
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
        runtime = cls(settings=settings, clock=clock, db=db, bus=bus, accounts=accounts)
        runtime.ready_checks["database"] = runtime._check_db
        return runtime

    async def _check_db(self) -> str | None:
        try:
            await self.db.ping()
        except Exception as exc:
            return f"database unreachable: {type(exc).__name__}"
        return None

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await upgrade(self.db.engine)
        await self._bootstrap_admin()
        self._stops.append(self.db.close)

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
