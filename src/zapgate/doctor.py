"""``zapgate doctor``: checks that say what is wrong and what it costs."""

from __future__ import annotations

import asyncio
import os
import tempfile
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


async def run_checks(settings: Settings) -> list[CheckResult]:
    return [
        check_data_dir(settings),
        await check_database(settings),
        *await check_neonize(settings),
    ]
