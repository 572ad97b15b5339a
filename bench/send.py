"""POST /messages throughput: 64 concurrent clients for 20 s against a real server.

The server is a ``zapgate serve --engine simulator`` subprocess on 127.0.0.1 (uvicorn,
one process). The load generator is wrk when it is on PATH, else Python clients in
several processes (bench/_load.py says what each costs and how wrk is driven);
``--generator`` chooses, and the JSON names the one used. Only 2xx answers count as
accepted. ``GET /healthz`` is measured the same way in the same run, so the ratio says
how much of the HTTP stack's capacity a send costs. Each measurement is preceded by
``--warmup`` seconds (default 1) of the same load whose requests are not counted: the
first requests of a fresh server open its read connections and compile its statements,
which a server in service has long done; on PostgreSQL the database is then analyzed,
as autovacuum does to one in service. Beside each figure: the CPU the server,
PostgreSQL and the load generator used while it was measured, and how long the server
and PostgreSQL waited for a core (bench/_cpu.py), in percent of one core.

Prints one JSON object. Usage: python -m bench.send [--duration 20] [--clients 64]
[--warmup 1] [--databases sqlite,postgresql] [--generator auto|wrk|python]
[--wrk-threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from bench import _load
from bench._server import (
    ServerProcess,
    admin_headers,
    create_pg_database,
    drop_pg_database,
    linked_connection,
    pg_analyze,
    pg_backend_pids,
)


def bench(
    database: str,
    duration: float,
    clients: int,
    warmup: float,
    generator: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        pg_name = None
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{data / 'zapgate.db'}"
        else:
            url, pg_name = asyncio.run(create_pg_database())
        try:
            with ServerProcess(data, url) as server:
                headers = admin_headers(server.url)
                linked_connection(server.url, headers, "Bench", "5511999990001")
                assert server.process is not None
                load = partial(
                    _load.run,
                    [server.url],
                    headers,
                    clients=clients,
                    duration=duration,
                    warmup=warmup,
                    server_pids=[server.process.pid],
                    database_pids=partial(pg_backend_pids, pg_name) if pg_name else None,
                    after_warmup=partial(pg_analyze, pg_name) if pg_name else None,
                    generator=generator,
                    threads=threads,
                )
                health = load(kind="health")
                send = load(kind="send")
        finally:
            if pg_name:
                asyncio.run(drop_pg_database(pg_name))
    return {
        "send": send,
        "healthz": health,
        "send_to_healthz_ratio": round(
            send["accepted_per_second"] / max(health["accepted_per_second"], 1), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--wrk-threads", type=int, default=None)
    args = parser.parse_args()
    results = {
        db: bench(db, args.duration, args.clients, args.warmup, args.generator, args.wrk_threads)
        for db in args.databases.split(",")
        if db
    }
    print(
        json.dumps(
            {
                "benchmark": "send",
                "generator": _load.generator_name(args.generator),
                "clients": args.clients,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
