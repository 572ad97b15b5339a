"""``zapgate doctor``: checks that say what is wrong and what it costs."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zapgate.config import EngineName, Settings
from zapgate.store.db import Database


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    optional: bool = False


async def check_database(settings: Settings) -> CheckResult:
    db = Database(settings.resolved_database_url)
    try:
        await db.ping()
    except Exception as exc:
        return CheckResult("database", False, f"cannot connect: {type(exc).__name__}: {exc}")
    finally:
        await db.close()
    kind = "SQLite" if settings.is_sqlite else "PostgreSQL"
    return CheckResult("database", True, f"{kind} reachable")


def check_data_dir(settings: Settings) -> CheckResult:
    path = settings.data_dir.resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return CheckResult("data directory", False, f"{path} is not writable: {exc}")
    free = os.statvfs(path)
    free_mib = free.f_bavail * free.f_frsize // (1024 * 1024)
    return CheckResult("data directory", True, f"{path} writable, {free_mib} MiB free")


async def check_neonize(settings: Settings) -> list[CheckResult]:
    """The neonize engine's checks; with the simulator engine none of them is required."""
    from zapgate.engines.neonize.doctor import run_checks as neonize_checks

    simulator = settings.engine is EngineName.SIMULATOR
    results = await asyncio.to_thread(neonize_checks, settings.data_dir)
    return [
        CheckResult(
            r.name,
            r.ok,
            f"{r.detail} (needed only with ZAPGATE_ENGINE=neonize)"
            if simulator and not r.ok
            else r.detail,
            optional=r.optional or simulator,
        )
        for r in results
    ]


WHATSAPP_HOST = "web.whatsapp.com"
"""Where the real engine opens its WebSocket (``wss://web.whatsapp.com/ws/chat``)."""
WHATSAPP_PORT = 443
WHATSAPP_TIMEOUT = 5.0
Resolve = Callable[[str, int], Awaitable[list[str]]]
Reach = Callable[[str, int, float], Awaitable[None]]


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def _reach(address: str, port: int, timeout: float) -> None:
    _reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    writer.close()
    await writer.wait_closed()


async def check_whatsapp(
    settings: Settings, *, resolve: Resolve | None = None, reach: Reach | None = None
) -> CheckResult:
    """WhatsApp's servers resolve and answer (a TCP connection to port 443): without
    them the real engine never shows a QR code. Only a warning with the simulator."""
    resolve = resolve or _resolve
    reach = reach or _reach
    optional = settings.engine is EngineName.SIMULATOR
    name = "whatsapp servers"
    try:
        addresses = await asyncio.wait_for(resolve(WHATSAPP_HOST, WHATSAPP_PORT), WHATSAPP_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        detail = f"{WHATSAPP_HOST} does not resolve ({type(exc).__name__}: {exc}); check the DNS"
        return CheckResult(name, False, detail, optional=optional)
    if not addresses:
        return CheckResult(name, False, f"{WHATSAPP_HOST} resolves to nothing", optional=optional)
    try:
        await reach(addresses[0], WHATSAPP_PORT, WHATSAPP_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        detail = (
            f"{WHATSAPP_HOST} ({addresses[0]}) does not answer on port {WHATSAPP_PORT} "
            f"({type(exc).__name__}: {exc}); check the internet connection or a firewall"
        )
        return CheckResult(name, False, detail, optional=optional)
    detail = f"{WHATSAPP_HOST} resolves ({addresses[0]}) and answers on port {WHATSAPP_PORT}"
    return CheckResult(name, True, detail, optional=optional)


async def run_checks(settings: Settings) -> list[CheckResult]:
    return [
        check_data_dir(settings),
        await check_database(settings),
        *await check_neonize(settings),
        await check_whatsapp(settings),
    ]
