"""POST /messages throughput: 64 concurrent clients for 20 s against a real server.

The server is a ``zapgate serve --engine simulator`` subprocess on 127.0.0.1 (uvicorn,
one process). Clients run in several processes (so the load generator is not the
bottleneck) with a minimal keep-alive HTTP/1.1 client (bench/_http.py: httpx cost more
CPU than the server it measured). ``GET /healthz`` is measured the same way in the same
run, so
the ratio says how much of the HTTP stack's capacity a send costs. Each measurement is
preceded by ``--warmup`` seconds (default 1) of the same load whose requests are not
counted: the first requests of a fresh server open its read connections and compile its
statements, which a server in service has long done.

Prints one JSON object. Usage: python -m bench.send [--duration 20] [--clients 64]
[--warmup 1] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop

from bench._http import RawClient
from bench._server import (
    ServerProcess,
    admin_headers,
    create_pg_database,
    drop_pg_database,
    linked_connection,
    percentile,
)

PROCESSES = 2
"""Client processes; the benchmark machine has few cores, shared with the server."""


Job = tuple[str, str, dict[str, str], int, float, float, int]


async def _clients(args: Job) -> dict[str, Any]:
    url, kind, headers, clients, duration, warmup, worker = args
    latencies: list[float] = []
    errors = 0
    measure_from = time.perf_counter() + warmup
    stop_at = measure_from + duration
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80

    async def client(n: int) -> None:
        nonlocal errors
        http = RawClient(host, port, headers)
        i = 0
        while time.perf_counter() < stop_at:
            i += 1
            started = time.perf_counter()
            try:
                if kind == "send":
                    to = f"5511{(worker * 1000 + n) % 10000:04d}{i % 1000:03d}01"
                    status, _ = await http.request(
                        "POST", "/api/v1/messages", {"to": to, "text": f"bench {i}"}
                    )
                    ok = status == 202
                else:
                    status, _ = await http.request("GET", "/healthz")
                    ok = status == 200
            except OSError:
                # A dropped connection is a failed request, counted like an error answer.
                ok = False
            if started < measure_from:
                continue  # warm-up
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
        await http.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return {"latencies": latencies, "errors": errors}


def _worker(args: Job) -> dict[str, Any]:
    uvloop.install()
    return asyncio.run(_clients(args))


def _load(
    url: str, kind: str, headers: dict[str, str], clients: int, duration: float, warmup: float
) -> dict[str, Any]:
    per = [clients // PROCESSES + (1 if i < clients % PROCESSES else 0) for i in range(PROCESSES)]
    jobs = [(url, kind, headers, n, duration, warmup, i) for i, n in enumerate(per) if n]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.map(_worker, jobs)
    latencies = [x for r in results for x in r["latencies"]]
    errors = sum(r["errors"] for r in results)
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / duration, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "errors": errors,
    }


def bench(database: str, duration: float, clients: int, warmup: float) -> dict[str, Any]:
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
                health = _load(server.url, "health", headers, clients, duration, warmup)
                send = _load(server.url, "send", headers, clients, duration, warmup)
        finally:
            if pg_name:
                asyncio.run(drop_pg_database(pg_name))
    return {
        "send": send,
        "healthz": health,
        "send_to_healthz_ratio": round(send["per_second"] / max(health["per_second"], 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    results = {
        db: bench(db, args.duration, args.clients, args.warmup)
        for db in args.databases.split(",")
        if db
    }
    print(
        json.dumps(
            {
                "benchmark": "send",
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
