"""Cluster figures on this machine: failover time, and sends through one node versus two.

Real processes on loopback: the simulated network (``zapgate simulator serve``), nodes
(``zapgate serve`` with ``ZAPGATE_CLUSTER``), one fresh PostgreSQL database per part.

- **Failover**: ``--connections`` connections are linked through node a; nodes b and c
  join and take their share (graceful handover). b is SIGKILLed: for each connection b
  ran, the seconds from the kill until it is ``ready`` elsewhere (p50, max); then c gets
  SIGTERM, measured the same way.
- **Sends**: ``POST /messages`` over ``--clients`` connections (64) for ``--duration``
  seconds against one node, then split evenly over two nodes of one cluster; accepted
  (2xx) sends/s, p99, errors, their ratio, and beside them the CPU each node, PostgreSQL
  and the load generator used, and how long nodes and PostgreSQL waited for a core
  (from /proc: bench/_cpu.py). The generator is wrk when it is on PATH (two threads,
  one per node with two), else Python clients: bench/_load.py.

``core_loop_seconds``: how fast a core of this machine is at the time
(``bench/_cpu.core_speed``); compare figures from different days with it.

Prints one JSON object. Usage: python -m bench.cluster [--connections 100]
[--lease 6] [--duration 10] [--clients 64] [--parts failover,sends]
[--generator auto|wrk|python] [--wrk-threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import _load
from bench._cpu import core_speed
from bench._server import (
    ServerProcess,
    admin_headers,
    create_pg_database,
    drop_pg_database,
    free_port,
    linked_connection,
    percentile,
    pg_analyze,
    pg_backend_pids,
)


@contextmanager
def _network() -> Any:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zapgate.cli", "simulator", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/report", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the simulated network did not start")
        time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _node(tmp: Path, db: str, name: str, **env: str) -> ServerProcess:
    data = tmp / name
    data.mkdir(parents=True, exist_ok=True)
    node = ServerProcess(data, db, ZAPGATE_CLUSTER="true", ZAPGATE_NODE_ID=name, **env)
    node.env["ZAPGATE_NODE_URL"] = node.url
    return node


def _states(url: str, headers: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    answer = httpx.get(
        f"{url}/api/v1/connections", params={"limit": 200}, headers=headers, timeout=30
    )
    return {c["id"]: (c["state"], c["node_id"]) for c in answer.json()["items"]}


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {what}")
        time.sleep(0.1)


def _moved(url: str, headers: dict[str, str], ids: set[str], gone: str) -> list[float]:
    """Seconds until each of ``ids`` is ready on another node than ``gone``."""
    started = time.monotonic()
    times: dict[str, float] = {}
    while len(times) < len(ids):
        for cid, (state, node) in _states(url, headers).items():
            if cid in ids and cid not in times and state == "ready" and node not in (None, gone):
                times[cid] = time.monotonic() - started
        if time.monotonic() - started > 120:
            raise RuntimeError(f"{len(ids) - len(times)} connections never came back")
        time.sleep(0.1)
    return list(times.values())


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "connections": len(values),
        "p50_s": round(percentile(values, 0.5), 2),
        "max_s": round(max(values, default=0.0), 2),
    }


def failover(connections: int, lease: float) -> dict[str, Any]:
    env = {"ZAPGATE_LEASE_SECONDS": str(lease)}
    with tempfile.TemporaryDirectory() as tmp, _network() as network:
        env["ZAPGATE_SIMULATOR_URL"] = network
        url, pg_name = asyncio.run(create_pg_database())
        try:
            with ExitStack() as stack:
                a = stack.enter_context(_node(Path(tmp), url, "a", **env))
                headers = admin_headers(a.url)
                for i in range(connections):
                    linked_connection(a.url, headers, f"c{i}", f"5511966{i + 1:05d}1")
                b = stack.enter_context(_node(Path(tmp), url, "b", **env))
                c = stack.enter_context(_node(Path(tmp), url, "c", **env))
                share = connections // 3

                def spread() -> dict[str, tuple[str, str | None]] | None:
                    states = _states(a.url, headers)
                    nodes = [n for s, n in states.values() if s == "ready"]
                    ok = len(nodes) == connections and min(nodes.count(x) for x in "abc") >= share
                    return states if ok else None

                handover_started = time.monotonic()
                states = _wait(spread, 300, "the spread over three nodes")
                handover = time.monotonic() - handover_started
                on_b = {cid for cid, (_, node) in states.items() if node == "b"}
                assert b.process is not None
                assert c.process is not None
                b.process.send_signal(signal.SIGKILL)
                b.process.wait()
                killed = _moved(a.url, headers, on_b, "b")
                states = _states(a.url, headers)
                on_c = {cid for cid, (_, node) in states.items() if node == "c"}
                c.process.send_signal(signal.SIGTERM)
                stopped = _moved(a.url, headers, on_c, "c")
                report = httpx.get(f"{network}/report", timeout=10).json()
        finally:
            asyncio.run(drop_pg_database(pg_name))
    return {
        "lease_s": lease,
        "spread_after_last_node_ready_s": round(handover, 1),
        "sigkill": _summary(killed),
        "sigterm": _summary(stopped),
        "stale_sends": report["stale_sends"],
    }


def sends(
    nodes: int, clients: int, duration: float, generator: str, threads: int | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url, pg_name = asyncio.run(create_pg_database())
        try:
            with ExitStack() as stack:
                servers = [
                    stack.enter_context(_node(Path(tmp), url, name)) for name in "ab"[:nodes]
                ]
                headers = admin_headers(servers[0].url)
                linked_connection(servers[0].url, headers, "bench", "5511999990001")
                figures = _load.run(
                    [s.url for s in servers],
                    headers,
                    clients=clients,
                    duration=duration,
                    server_pids=[s.process.pid for s in servers if s.process is not None],
                    database_pids=partial(pg_backend_pids, pg_name),
                    after_warmup=partial(pg_analyze, pg_name),
                    generator=generator,
                    threads=threads,
                )
        finally:
            asyncio.run(drop_pg_database(pg_name))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--lease", type=float, default=6.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--parts", default="failover,sends")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--wrk-threads", type=int, default=None, help="a multiple of the nodes (default 2)"
    )
    args = parser.parse_args()
    parts = args.parts.split(",")
    result: dict[str, Any] = {
        "benchmark": "cluster",
        "machine_cores": os.cpu_count(),
        "core_loop_seconds": core_speed(),
    }
    if "failover" in parts:
        result["failover"] = failover(args.connections, args.lease)
    if "sends" in parts:
        one = sends(1, args.clients, args.duration, args.generator, args.wrk_threads)
        two = sends(2, args.clients, args.duration, args.generator, args.wrk_threads)
        result["sends"] = {
            "generator": _load.generator_name(args.generator),
            "one_node": one,
            "two_nodes": two,
            "ratio": round(two["accepted_per_second"] / max(one["accepted_per_second"], 1), 2),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
