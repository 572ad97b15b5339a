"""Live event streams under load: WebSocket clients receiving a steady event rate.

A child process runs the server (uvicorn, SQLite by default) plus a producer that
appends ``--rate`` events per second through the normal ``append_event`` path, spread
round-robin over ``--orgs`` organizations. This process opens ``--clients`` WebSocket
clients (spread evenly over the organizations, each sees only its own tenant's
events) and measures latency from the event's ``created_at`` to its arrival.

Prints one JSON object. Usage: python bench/stream.py [--clients 500] [--rate 1000]
    [--seconds 10] [--orgs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.events.log import append_event
from zapgate.runtime import Runtime

ADMIN = {"email": "bench@example.com", "password": "bench-pass-1"}


def _settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        engine="simulator",
        secret_key="b" * 40,
        log_level="ERROR",
        admin_email=ADMIN["email"],
        admin_password=ADMIN["password"],
        admin_org="Bench",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )


def _server_main(conn: Connection, sock: socket.socket) -> None:
    async def main() -> None:
        app = create_app(_settings(Path(tempfile.mkdtemp(prefix="zapgate-bench-"))))
        config = uvicorn.Config(
            app, lifespan="on", log_config=None, log_level="error", access_log=False, backlog=4096
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.05)
        conn.send("ready")
        while not conn.poll():
            await asyncio.sleep(0.05)
        orgs, rate, seconds = conn.recv()
        runtime: Runtime = app.state.runtime
        written = await _produce(runtime, orgs, rate, seconds)
        conn.send(written)
        while not conn.poll():
            await asyncio.sleep(0.05)
        conn.recv()
        server.should_exit = True
        await task

    asyncio.run(main())


async def _produce(runtime: Runtime, orgs: list[str], rate: int, seconds: float) -> int:
    """``rate`` events/s in ticks of 10 ms, one transaction per tick."""
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    start = time.perf_counter()
    written = 0
    n = 0
    while time.perf_counter() - start < seconds:
        async with runtime.db.write() as s:
            for _ in range(per_tick):
                await append_event(
                    s,
                    organization_id=orgs[n % len(orgs)],
                    type="message.received",
                    data={"n": n, "text": "hello there"},
                    created_at=datetime.now(UTC),
                )
                n += 1
        written += per_tick
        target = start + (written / rate)
        await asyncio.sleep(max(0.0, target - time.perf_counter()))
    return written


async def _org_tokens(base: str, count: int) -> list[tuple[str, str]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await http.post("/api/v1/auth/login", json=ADMIN)
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        out = []
        for i in range(count):
            org = (
                await http.post("/api/v1/organizations", headers=admin, json={"name": f"Org {i}"})
            ).json()
            email = f"owner{i}@bench.test"
            await http.post(
                f"/api/v1/organizations/{org['id']}/users",
                headers=admin,
                json={"email": email, "password": "owner-pass-1", "role": "owner"},
            )
            token = (
                await http.post(
                    "/api/v1/auth/login", json={"email": email, "password": "owner-pass-1"}
                )
            ).json()["access_token"]
            out.append((org["id"], token))
        return out


async def run(clients: int, rate: int, seconds: float, orgs: int) -> dict[str, Any]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_server_main, args=(child, sock))
    proc.start()
    assert parent.recv() == "ready"
    base = f"http://127.0.0.1:{port}"
    tenants = await _org_tokens(base, orgs)
    latencies: list[float] = []
    counts = [0] * clients
    closed = [0]
    stop = asyncio.Event()
    connected = [0]
    all_connected = asyncio.Event()

    async def client(index: int) -> None:
        _, token = tenants[index % len(tenants)]
        url = f"ws://127.0.0.1:{port}/api/v1/events/ws?token={token}"
        async with connect(url, max_size=None, open_timeout=60) as ws:
            connected[0] += 1
            if connected[0] == clients:
                all_connected.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    if ws.close_code == 4008:
                        closed[0] += 1
                    return
                message = json.loads(raw)
                if "id" in message:
                    created = datetime.fromisoformat(message["created_at"]).timestamp()
                    latencies.append(time.time() - created)
                    counts[index] += 1

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await asyncio.wait_for(all_connected.wait(), timeout=120)
    org_ids = [org for org, _ in tenants]
    parent.send((org_ids, rate, seconds))
    written = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    expected = sum(
        len([n for n in range(written) if n % orgs == i % orgs]) for i in range(clients)
    )
    deadline = time.time() + 15
    while sum(counts) < expected and time.time() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    parent.send("stop")
    proc.join()
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 1)

    result = {
        "clients": clients,
        "organizations": orgs,
        "target_rate": rate,
        "seconds": seconds,
        "events_written": written,
        "events_per_second_written": round(written / seconds),
        "messages_expected": expected,
        "messages_received": sum(counts),
        "clients_cut_off": closed[0],
        "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)},
    }
    result["p99_le_250ms"] = pct(0.99) <= 250
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--orgs", type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(run(args.clients, args.rate, args.seconds, args.orgs))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
