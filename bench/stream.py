"""Live event streams under load: WebSocket clients receiving a steady event rate.

A child process runs the server as ``zapgate serve`` does (uvicorn on uvloop, SQLite)
plus a producer that writes ``--rate`` events per second through the log path that
ingest uses for bursts (``stage_event`` + ``flush_staged``, one transaction per 10 ms
tick), spread round-robin over ``--orgs`` organizations. ``--clients`` WebSocket clients
(the ``websockets`` library, with the permessage-deflate a browser negotiates) are
spread over ``--processes`` client processes so the load generator is not what limits
the figures; each client sees only its own tenant's events. Latency is the client's
``time.time()`` on arrival minus the event's ``created_at`` (one machine, one clock).

Target: 500 clients, 1,000 events/s, p99 latency <= 250 ms. Besides the latency the
result reports how far behind schedule the producer's ticks ran and how long each
tick's transaction took to commit and publish (server-side saturation, seen from
inside), and what the clients checked: events of another organization
(``foreign_events``) and ids not above the previous one (``out_of_order``), both 0.

Prints one JSON object. Usage: python -m bench.stream [--clients 500] [--rate 1000]
    [--seconds 10] [--orgs 50] [--processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.domain.messages import Direction
from zapgate.events.log import flush_staged, stage_event
from zapgate.runtime import Runtime

ADMIN = {"email": "bench@example.com", "password": "bench-pass-1"}
TICK = 0.01
DRAIN_SECONDS = 15.0
"""How long clients may take, after the last event was written, to receive the rest."""


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


# ------------------------------------------------------------------ server process


def _server_main(conn: Connection, sock: socket.socket) -> None:
    async def main() -> None:
        app = create_app(_settings(Path(tempfile.mkdtemp(prefix="zapgate-bench-"))))
        # As ``zapgate serve`` configures it (cli._server_config), on the given socket.
        config = uvicorn.Config(
            app,
            lifespan="on",
            log_config=None,
            log_level="error",
            access_log=False,
            backlog=4096,
            ws_ping_interval=20,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.05)
        conn.send("ready")
        orgs, rate, seconds, clients = await _recv(conn)
        runtime: Runtime = app.state.runtime
        # A client's handshake completes before its stream subscribes (the token is
        # checked after accept): start once every stream is live, or the first events
        # would go to fewer clients than expected.
        while runtime.streams.active < clients:
            await asyncio.sleep(0.05)
        conn.send(await _produce(runtime, orgs, rate, seconds))
        await _recv(conn)
        server.should_exit = True
        await task

    # ``zapgate serve`` runs on uvloop (uvicorn's loop="auto" picks it when installed).
    uvloop.run(main())


async def _recv(conn: Connection) -> Any:
    while not conn.poll():
        await asyncio.sleep(0.05)
    return conn.recv()


def _message(n: int, organization: int, now: datetime) -> dict[str, Any]:
    """A ``message.received`` payload shaped like ``services/payloads.message_payload``."""
    stamp = now.isoformat()
    return {
        "id": f"0192f1c4-{n:04x}-7000-8000-{organization:012x}",
        "wa_message_id": f"3EB0{n:016X}",
        "connection_id": f"conn-{organization}",
        "chat_id": f"chat-{n % 97}",
        "contact_id": f"contact-{n % 97}",
        "direction": Direction.IN.value,
        "to": None,
        "from": f"55119{n % 97:08d}@s.whatsapp.net",
        "chat_jid": f"55119{n % 97:08d}@s.whatsapp.net",
        "type": "text",
        "status": "received",
        "ack": 0,
        "text": "Hello, is my order on its way? It was due yesterday.",
        "media": None,
        "location": None,
        "contact": None,
        "reaction": None,
        "reply_to": None,
        "template_id": None,
        "contact_phone": f"+55119{n % 97:08d}",
        "contact_lid": f"{n % 97:015d}@lid",
        "push_name": "Customer",
        "attempts": 0,
        "created_at": stamp,
        "send_at": None,
        "sent_at": None,
        "delivered_at": None,
        "read_at": None,
        "played_at": None,
        "failed_at": None,
        "error_code": None,
        "error_message": None,
    }


async def _produce(runtime: Runtime, orgs: list[str], rate: int, seconds: float) -> dict[str, Any]:
    """``rate`` events/s for ``seconds``: every tick writes the events due by its end.

    A late tick writes more, so the rate holds as long as the event loop keeps up; how
    far behind schedule each tick started is reported (the server loop's saturation).
    """
    total = round(rate * seconds)
    start = time.perf_counter()
    written = 0
    ticks = 0
    lags: list[float] = []
    commits: list[float] = []
    print(f"bench.stream: producing {total} events", file=sys.stderr, flush=True)
    while written < total:
        now = time.perf_counter()
        # How late the oldest event of this batch is, against its place in the schedule.
        lags.append(max(0.0, now - (start + written / rate)))
        due = min(total, round(rate * (now - start + TICK)))
        # A short transaction, as ingest's (``Database.write(in_loop=True)``).
        async with runtime.db.write(in_loop=True) as s:
            for n in range(written, due):
                organization = n % len(orgs)
                created = datetime.now(UTC)
                stage_event(
                    s,
                    organization_id=orgs[organization],
                    type="message.received",
                    data=_message(n, organization, created),
                    created_at=created,
                )
            await flush_staged(s)
        # From the first event's creation to its commit and publication to the bus.
        commits.append(time.perf_counter() - now)
        written = max(written, due)
        ticks += 1
        await asyncio.sleep(max(0.0, start + ticks * TICK - time.perf_counter()))
    elapsed = time.perf_counter() - start
    return {
        "written": written,
        "elapsed": elapsed,
        "ticks": ticks,
        "lag_ms": _summary(lags),
        "commit_ms": _summary(commits),
    }


# ------------------------------------------------------------------ client processes


def _clients_main(conn: Connection) -> None:
    uvloop.run(_clients(conn))


async def _clients(conn: Connection) -> None:
    """Connect the assigned clients, receive until each has its organization's events."""
    port, assigned = await _recv(conn)
    latencies: list[float] = []
    counts = [0] * len(assigned)
    state = {"cut_off": 0, "foreign": 0, "out_of_order": 0, "connected": 0}
    expected: list[int] = []
    complete = asyncio.Event()
    all_connected = asyncio.Event()
    remaining = [len(assigned)]

    def finished(slot: int) -> bool:
        return bool(expected) and counts[slot] >= expected[assigned[slot][0]]

    async def receive(slot: int, ws: ClientConnection, organization_id: str) -> None:
        last_id = 0
        async for raw in ws:
            arrived = time.time()
            message = json.loads(raw)
            if message["type"] == "ping":
                continue
            latencies.append(arrived - datetime.fromisoformat(message["created_at"]).timestamp())
            if message["organization_id"] != organization_id:
                state["foreign"] += 1
            if message["id"] <= last_id:
                state["out_of_order"] += 1
            last_id = message["id"]
            counts[slot] += 1
            if finished(slot):
                remaining[0] -= 1
                if not remaining[0]:
                    complete.set()
                return

    async def client(slot: int, organization_id: str, token: str) -> None:
        url = f"ws://127.0.0.1:{port}/api/v1/events/ws?token={token}"
        async with connect(url, max_size=None, open_timeout=120) as ws:
            state["connected"] += 1
            if state["connected"] == len(assigned):
                all_connected.set()
            with contextlib.suppress(ConnectionClosed):
                await receive(slot, ws, organization_id)
            if ws.close_code == 4008:
                state["cut_off"] += 1

    tasks = [
        asyncio.create_task(client(slot, organization_id, token))
        for slot, (_, organization_id, token) in enumerate(assigned)
    ]
    await asyncio.wait_for(all_connected.wait(), 120)
    conn.send("connected")
    expected.extend(await _recv(conn))
    remaining[0] = sum(1 for slot in range(len(assigned)) if not finished(slot))
    if remaining[0]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), DRAIN_SECONDS)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    conn.send({"latencies": latencies, "counts": counts, **state})


# ------------------------------------------------------------------ orchestration


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


def _summary(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 1)

    return {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)}


def run(clients: int, rate: int, seconds: float, orgs: int, processes: int) -> dict[str, Any]:
    # Every process is forked before this one starts an event loop or a thread.
    ctx = mp.get_context("fork")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server_conn, child = ctx.Pipe()
    server = ctx.Process(target=_server_main, args=(child, sock))
    server.start()
    workers = []
    for _ in range(processes):
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=_clients_main, args=(child,))
        proc.start()
        workers.append((conn, proc))
    assert server_conn.recv() == "ready"
    tenants = asyncio.run(_org_tokens(f"http://127.0.0.1:{port}", orgs))
    # Client i follows organization i % orgs; client processes take every k-th client.
    for k, (conn, _) in enumerate(workers):
        assigned = [(i % orgs, *tenants[i % orgs]) for i in range(k, clients, processes)]
        conn.send((port, assigned))
    for conn, _ in workers:
        assert conn.recv() == "connected"
    server_conn.send(([org for org, _ in tenants], rate, seconds, clients))
    produced = server_conn.recv()
    written = produced["written"]
    per_org = [written // orgs + (1 if j < written % orgs else 0) for j in range(orgs)]
    for conn, _ in workers:
        conn.send(per_org)
    reports = [conn.recv() for conn, _ in workers]
    server_conn.send("stop")
    server.join()
    for _, proc in workers:
        proc.join()
    latencies = [value for report in reports for value in report["latencies"]]
    expected = sum(per_org[i % orgs] for i in range(clients))
    p99 = _summary(latencies)["p99"]
    return {
        "clients": clients,
        "client_processes": processes,
        "organizations": orgs,
        "target_rate": rate,
        "seconds": seconds,
        "events_written": written,
        "events_per_second_written": round(written / produced["elapsed"]),
        "producer_ticks": produced["ticks"],
        "producer_tick_lag_ms": produced["lag_ms"],
        "producer_commit_ms": produced["commit_ms"],
        "messages_expected": expected,
        "messages_received": sum(sum(report["counts"]) for report in reports),
        "clients_cut_off": sum(report["cut_off"] for report in reports),
        "foreign_events": sum(report["foreign"] for report in reports),
        "out_of_order": sum(report["out_of_order"] for report in reports),
        "latency_ms": _summary(latencies),
        "p99_le_250ms": p99 <= 250,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    args = parser.parse_args()
    result = run(args.clients, args.rate, args.seconds, args.orgs, args.processes)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
