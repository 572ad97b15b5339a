"""Helpers for messaging tests: a linked connection, sending, driving the clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.conftest import Server
from tests.integration.api.helpers import API, create_connection, link
from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.util.clock import ManualClock

CUSTOMER = "5511988887777"


def simulator(server: Server) -> SimulatorEngine:
    engine = server.runtime.engine
    assert isinstance(engine, SimulatorEngine)
    return engine


async def ready_connection(
    server: Server,
    headers: dict[str, str],
    clock: ManualClock,
    *,
    name: str = "Shop",
    phone: str = "5511999990001",
    **extra: Any,
) -> str:
    conn = await create_connection(server.http, headers, name, **extra)
    await link(server.http, headers, conn["id"], clock, phone=phone)
    return str(conn["id"])


async def send(
    http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any], status: int = 202
) -> dict[str, Any]:
    response = await http.post(f"{API}/messages", headers=headers, json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def message(http: httpx.AsyncClient, headers: dict[str, str], mid: str) -> dict[str, Any]:
    response = await http.get(f"{API}/messages/{mid}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def drive(
    clock: ManualClock,
    check: Callable[[], Awaitable[bool]],
    *,
    step: float = 0.5,
    limit: float = 3600.0,
    what: str = "condition",
    real_timeout: float = 120.0,
) -> None:
    """Advance the clock in steps, letting real I/O run between them, until ``check``."""
    moved = 0.0
    loop = asyncio.get_running_loop()
    # Real seconds: generous, since a loaded CI box runs the database I/O slowly.
    deadline = loop.time() + real_timeout
    while not await check():
        if moved > limit or loop.time() > deadline:
            raise AssertionError(f"timed out driving the clock for {what}")
        await clock.advance(step)
        moved += step
        await asyncio.sleep(0.005)


async def wait_status(
    server: Server, headers: dict[str, str], clock: ManualClock, mid: str, *statuses: str
) -> dict[str, Any]:
    last: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal last
        last = await message(server.http, headers, mid)
        return last["status"] in statuses

    try:
        await drive(clock, reached, what=f"status {statuses}")
    except AssertionError as exc:
        raise AssertionError(f"wanted {statuses}, last {last}") from exc
    return last
