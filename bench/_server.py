"""Shared by the messaging benchmarks: a real ``zapgate serve`` subprocess on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

EMAIL = "bench@example.com"
PASSWORD = "bench-password-1"
PG_ADMIN = os.environ.get("ZAPGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create_pg_database() -> tuple[str, str]:
    """A fresh PostgreSQL database; returns ``(sqlalchemy url, name)``."""
    name = f"zapgate_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
    return f"postgresql+asyncpg://{base}/{name}", name


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_backend_pids(name: str) -> list[int]:
    """The server processes of PostgreSQL's connections to database ``name`` now."""

    async def query() -> list[int]:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
        finally:
            await conn.close()
        return [int(row["pid"]) for row in rows]

    return list(asyncio.run(query()))


def pg_analyze(name: str) -> None:
    """``ANALYZE`` database ``name``, as autovacuum does to a database in service."""

    async def analyze() -> None:
        base = PG_ADMIN.rsplit("/", 1)[0]
        conn = await asyncpg.connect(f"{base}/{name}")
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    asyncio.run(analyze())


class ServerProcess:
    def __init__(self, data_dir: Path, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ZAPGATE_DATA_DIR": str(data_dir),
            "ZAPGATE_DATABASE_URL": database_url,
            "ZAPGATE_HOST": "127.0.0.1",
            "ZAPGATE_PORT": str(self.port),
            "ZAPGATE_ADMIN_EMAIL": EMAIL,
            "ZAPGATE_ADMIN_PASSWORD": PASSWORD,
            "ZAPGATE_SECRET_KEY": "b" * 40,
            "ZAPGATE_LOG_LEVEL": "WARNING",
            "ZAPGATE_MAX_CONNECTIONS": "100000",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        zapgate = str(Path(sys.executable).with_name("zapgate"))
        self.process = subprocess.Popen(
            [zapgate, "serve", "--engine", "simulator"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)

    def __exit__(self, *_: Any) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def admin_headers(url: str) -> dict[str, str]:
    token = httpx.post(
        f"{url}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30
    ).json()["access_token"]
    key = httpx.post(
        f"{url}/api/v1/api-keys",
        json={"name": "bench"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["key"]
    return {"Authorization": f"Bearer {key}"}


def linked_connection(url: str, headers: dict[str, str], name: str, phone: str) -> str:
    http = httpx.Client(base_url=url, headers=headers, timeout=30)
    cid = str(http.post("/api/v1/connections", json={"name": name}).json()["id"])
    http.post(f"/api/v1/connections/{cid}/start")
    _wait_state(http, cid, "qr_ready")
    http.post(f"/api/v1/simulator/connections/{cid}/scan", json={"phone": phone})
    _wait_state(http, cid, "ready")
    http.close()
    return cid


def _wait_state(http: httpx.Client, cid: str, state: str) -> None:
    deadline = time.monotonic() + 60
    while http.get(f"/api/v1/connections/{cid}/status").json()["state"] != state:
        if time.monotonic() > deadline:
            raise RuntimeError(f"connection never reached {state}")
        time.sleep(0.05)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(coro: Any) -> Any:
    return asyncio.run(coro)
