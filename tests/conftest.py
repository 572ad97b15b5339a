"""Shared fixtures: real databases (SQLite and PostgreSQL), the app, a manual clock."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from tests.neonize_import import load_neonize
from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.runtime import Runtime
from zapgate.store.migrate import upgrade
from zapgate.store.tables import Base
from zapgate.util.clock import ManualClock


def pytest_configure(config: pytest.Config) -> None:
    # Before collection: test modules import neonize, and its import leaks a pipe.
    load_neonize()


PG_ADMIN_DSN = os.environ.get("ZAPGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


def run_in_thread(factory: Callable[[], Awaitable[None]]) -> None:
    """Run async setup code on its own loop (session fixtures may start inside a loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(_call(factory))).result()


async def _call(factory: Callable[[], Awaitable[None]]) -> None:
    await factory()


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].split("://", 1)[1]
    return f"postgresql+asyncpg://{base}/{dbname}"


async def pg_admin(sql: str) -> None:
    """Run one statement as the PostgreSQL administrator (create or drop a database)."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated once, dropped at the end."""
    name = f"zapgate_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def create() -> None:
        await pg_admin(f'CREATE DATABASE "{name}"')
        engine = create_async_engine(_pg_url(name))
        await upgrade(engine)
        await engine.dispose()

    async def drop() -> None:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    run_in_thread(create)
    yield _pg_url(name)
    run_in_thread(drop)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "zapgate.db"

    async def create() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    run_in_thread(create)
    return path


async def _truncate_pg(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "data" / "zapgate.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    await _truncate_pg(url)
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings_factory(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "engine": "simulator",
            "admin_email": ADMIN_EMAIL,
            "admin_password": ADMIN_PASSWORD,
            "admin_org": "Acme",
            "secret_key": "s" * 40,
            "log_level": "WARNING",
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            # No test survives a power cut: a disk sync at every commit would only slow
            # them (tests/integration/store/test_sqlite_synchronous.py covers "full").
            "sqlite_synchronous": "normal",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@dataclass
class Server:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@asynccontextmanager
async def running_server(settings: Settings, clock: ManualClock) -> AsyncIterator[Server]:
    app = create_app(settings, clock=clock)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Server(app=app, http=http)


@pytest.fixture
async def server(settings: Settings, clock: ManualClock) -> AsyncIterator[Server]:
    async with running_server(settings, clock) as srv:
        yield srv


@pytest.fixture
def client(server: Server) -> httpx.AsyncClient:
    return server.http


async def login(http: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    """Headers of the bootstrap superadmin (owner of organization "Acme")."""
    return await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, what: str = "condition"
) -> None:
    """Wait for asynchronous work (real I/O in threads) to reach a state; no fixed sleeps."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
