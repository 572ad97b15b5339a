"""Restore N linked simulator connections after a restart.

Phase 1 (this process): create N connections and link each through the simulator (QR →
scan → ready), then shut down. Phase 2 (a fresh process): start the server runtime with
the default stagger settings and measure the time until every connection is ``ready``
again, and the resident memory the restored connections added.

Prints one JSON object. Usage: python bench/sessions.py [--connections 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zapgate.config import Settings
from zapgate.domain.roles import Role
from zapgate.domain.states import ConnectionState
from zapgate.runtime import Runtime
from zapgate.services.context import Principal


def _settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        engine="simulator",
        secret_key="b" * 40,
        log_level="WARNING",
        max_connections=100_000,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def seed(data_dir: Path, count: int) -> float:
    runtime = Runtime.build(_settings(data_dir))
    await runtime.start()
    started = time.perf_counter()
    try:
        user = await runtime.accounts.bootstrap(
            email="bench@example.com", password="bench-pass-1", org_name="Bench"
        )
        assert user is not None
        principal = Principal(organization_id=user.organization_id, role=Role.OWNER)
        sim = runtime.simulation
        assert sim is not None
        ids = []
        for i in range(count):
            row = await runtime.connections.create(principal, name=f"conn {i}")
            ids.append(row.id)
        sem = asyncio.Semaphore(50)

        async def link(i: int, cid: str) -> None:
            async with sem:
                await runtime.connections.start(principal, cid)
                runner = runtime.supervisor.get(cid)
                while runner.qr is None:
                    await asyncio.sleep(0.01)
                await sim.engine.scan(cid, f"55119{i:07d}1", f"Shop {i}")
                while runner.state is not ConnectionState.READY:
                    await asyncio.sleep(0.02)

        await asyncio.gather(*(link(i, cid) for i, cid in enumerate(ids)))
    finally:
        await runtime.stop()
    return time.perf_counter() - started


async def restore(data_dir: Path, count: int) -> dict[str, float | int]:
    settings = _settings(data_dir)
    runtime = Runtime.build(settings)
    await runtime.start(sessions=False)
    rss_before = _rss_kib()
    started = time.perf_counter()
    await runtime.supervisor.start()
    try:
        while True:
            states = runtime.supervisor.states()
            ready = sum(1 for s in states.values() if s is ConnectionState.READY)
            if ready == count:
                break
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"only {ready}/{count} ready after 300 s")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        rss_after = _rss_kib()
    finally:
        await runtime.supervisor.close()
        await runtime.stop()
    return {
        "restore_seconds_until_all_ready": round(elapsed, 3),
        "rss_before_restore_kib": rss_before,
        "rss_after_restore_kib": rss_after,
        "rss_per_connection_kb": round((rss_after - rss_before) * 1.024 / count, 1),
        "restore_concurrency": settings.restore_concurrency,
        "restore_jitter_s": settings.restore_jitter,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--phase", choices=["all", "restore"], default="all")
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    if args.phase == "restore":
        print(json.dumps(asyncio.run(restore(args.data_dir, args.connections))))
        return
    with tempfile.TemporaryDirectory(prefix="zapgate-bench-") as tmp:
        data_dir = Path(tmp)
        seed_s = asyncio.run(seed(data_dir, args.connections))
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--phase",
                "restore",
                "--data-dir",
                str(data_dir),
                "--connections",
                str(args.connections),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
    result |= {
        "benchmark": "sessions.restore",
        "connections": args.connections,
        "database": "sqlite",
        "seed_link_seconds": round(seed_s, 1),
        "targets": {"restore_seconds": 10, "rss_per_connection_kb": 200},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
