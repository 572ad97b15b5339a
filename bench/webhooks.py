"""Webhook delivery under load: N events to three local receivers.

Receivers (a child process, uvicorn on 127.0.0.1): ``fast`` answers at once, ``slow``
takes 2 s per request, ``flaky`` fails half of its requests at random. This process runs
the zapgate runtime (SQLite by default) and writes the events in transactions of 50
(staged: one INSERT of events per transaction; short ones, ``write(in_loop=True)``, as
the inbound and send paths that write events in production), as fast as it can. Measured at the
receivers: fast-receiver throughput and lag (event ``created_at`` to arrival), and for
every receiver whether each (event, endpoint) pair arrived at least once with a 2xx, and
how many arrived more than once.

The retry backoff is shortened to 0.2-2 s here (24 h of real backoff cannot run in a
benchmark); everything else is the production path, including the event loop: uvloop,
which ``zapgate serve`` gets from uvicorn (``loop="auto"``) whenever it is installed,
and the garbage-collector settings ``zapgate serve`` applies (``util/gc.py``).

``--ordered`` makes every webhook ordered (one request in flight, in event id order);
``--receivers fast`` measures one endpoint alone. Each receiver also reports how many
requests arrived after a request for a later event (``out_of_order``).

Prints one JSON object. Usage: python bench/webhooks.py [--events 10000]
    [--database-url postgresql+asyncpg://...] [--deadline 300] [--ordered]
    [--receivers fast,slow,flaky]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from sqlalchemy import func, select

from zapgate.config import Settings
from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.roles import Role
from zapgate.events.log import flush_staged, stage_event
from zapgate.runtime import Runtime
from zapgate.services.context import Principal
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.webhooks import WebhookDeliveryRow
from zapgate.util.backoff import BackoffConfig
from zapgate.util.gc import tune_for_server

KINDS = ("fast", "slow", "flaky")


# ---------------------------------------------------------------- receivers (child)


def _receiver_app(kind: str, log: list[tuple[int, bool, float, float]]) -> Any:
    rng = random.Random(kind)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if kind == "slow":
            await asyncio.sleep(2)
        ok = kind != "flaky" or rng.random() < 0.5
        event = json.loads(body)
        now = time.time()
        log.append((event["id"], ok, now - _ts(event["created_at"]), now))
        await send({"type": "http.response.start", "status": 200 if ok else 500, "headers": []})
        await send({"type": "http.response.body", "body": b"ok" if ok else b"fail"})

    return app


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _receivers_main(conn: Connection, sockets: dict[str, socket.socket]) -> None:
    logs: dict[str, list[tuple[int, bool, float, float]]] = {k: [] for k in KINDS}
    parent = os.getppid()

    async def main() -> None:
        servers = []
        for kind in KINDS:
            config = uvicorn.Config(
                _receiver_app(kind, logs[kind]),
                lifespan="off",
                log_config=None,
                log_level="error",
                access_log=False,
                backlog=4096,
            )
            server = uvicorn.Server(config)
            servers.append((server, asyncio.create_task(server.serve(sockets=[sockets[kind]]))))
        conn.send("ready")
        while not conn.poll():
            if os.getppid() != parent:  # the benchmark died: do not linger (or hold locks)
                return
            await asyncio.sleep(0.05)
        conn.recv()
        conn.send(logs)
        for server, task in servers:
            server.should_exit = True
            await task

    uvloop.run(main())


# ---------------------------------------------------------------- zapgate (this process)


def _settings(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        engine="simulator",
        secret_key="b" * 40,
        log_level="ERROR",
        webhook_allow_private=True,
        webhook_concurrency=256,
        admin_email="bench@example.com",
        admin_password="bench-pass-1",
        admin_org="Bench",
    )


async def run(
    events: int,
    database_url: str | None,
    deadline: float,
    *,
    ordered: bool = False,
    kinds: tuple[str, ...] = KINDS,
) -> dict[str, Any]:
    sockets = {}
    for kind in KINDS:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets[kind] = sock
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_receivers_main, args=(child, sockets))
    proc.start()
    assert parent.recv() == "ready"

    data_dir = Path(tempfile.mkdtemp(prefix="zapgate-bench-"))
    runtime = Runtime.build(_settings(data_dir, database_url))
    runtime.webhook_dispatcher.policy = replace(
        runtime.webhook_dispatcher.policy,
        backoff=BackoffConfig(min_delay=0.2, max_delay=2.0, jitter=0.25),
    )
    # As ``zapgate serve`` does once the app is built (``util/gc.py``); the receivers,
    # forked before, keep the default collector.
    tune_for_server()
    await runtime.start()
    try:
        async with runtime.db.read() as s:
            org = await s.scalar(select(OrganizationRow.id).where(OrganizationRow.name == "Bench"))
        assert org is not None
        principal = Principal(organization_id=org, role=Role.OWNER)
        for kind in kinds:
            port = sockets[kind].getsockname()[1]
            await runtime.webhooks.create(
                principal, url=f"http://127.0.0.1:{port}/{kind}", ordered=ordered
            )

        started = time.time()
        batch = 50
        for first in range(0, events, batch):
            # A short transaction, as the inbound and send paths that write events are.
            async with runtime.db.write(in_loop=True) as s:
                for i in range(first, min(first + batch, events)):
                    stage_event(
                        s,
                        organization_id=org,
                        type="message.received",
                        data={"n": i, "text": "hello " * 10},
                        created_at=datetime.now(UTC),
                    )
                await flush_staged(s)
        produced = time.time() - started

        async def done() -> bool:
            async with runtime.db.read() as s:
                pending = await s.scalar(
                    select(func.count()).where(
                        WebhookDeliveryRow.status == DeliveryStatus.PENDING.value
                    )
                )
            return not pending

        while not await done() and time.time() - started < deadline:
            await asyncio.sleep(0.5)
        finished = time.time() - started
    finally:
        await runtime.stop()
    parent.send("report")
    logs: dict[str, list[tuple[int, bool, float, float]]] = parent.recv()
    proc.join()

    result: dict[str, Any] = {
        "events": events,
        "database": "postgresql" if database_url else "sqlite",
        "ordered": ordered,
        "produce_seconds": round(produced, 2),
        "events_per_second_written": round(events / produced),
        "wall_seconds": round(finished, 1),
        "receivers": {},
    }
    for kind in kinds:
        entries = logs[kind]
        ok = [e for e in entries if e[1]]
        per_event = Counter(e[0] for e in ok)
        lags = sorted(e[2] for e in ok)
        summary: dict[str, Any] = {
            "requests": len(entries),
            "delivered_events": len(per_event),
            "missing": events - len(per_event),
            "duplicates": sum(n - 1 for n in per_event.values() if n > 1),
            "lag_p50_s": round(lags[len(lags) // 2], 3) if lags else None,
            "lag_p99_s": round(lags[int(len(lags) * 0.99) - 1], 3) if lags else None,
            "out_of_order": _out_of_order([e[0] for e in entries]),
        }
        if kind == "fast" and ok:
            arrivals = sorted(e[3] for e in ok)
            span = max(arrivals[-1] - arrivals[0], 1e-6)
            summary["deliveries_per_second"] = round(len(ok) / span)
        result["receivers"][kind] = summary
    targets = result["targets_met"] = {
        "every_pair_delivered": all(r["missing"] == 0 for r in result["receivers"].values()),
    }
    fast = result["receivers"].get("fast")
    if fast is not None:
        targets["fast_ge_1000_per_s"] = fast.get("deliveries_per_second", 0) >= 1000
        targets["fast_p99_lag_le_1s"] = (fast["lag_p99_s"] or 99) <= 1.0
    return result


def _out_of_order(arrivals: list[int]) -> int:
    """Requests that arrived after a request for a later event (retries included)."""
    late, highest = 0, 0
    for event_id in arrivals:
        if event_id < highest:
            late += 1
        highest = max(highest, event_id)
    return late


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--deadline", type=float, default=300.0)
    parser.add_argument("--ordered", action="store_true", help="ordered webhooks")
    parser.add_argument(
        "--receivers", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}"
    )
    args = parser.parse_args()
    kinds = tuple(k for k in args.receivers.split(",") if k)
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        parser.error(f"--receivers takes some of {', '.join(KINDS)}")
    result = uvloop.run(
        run(args.events, args.database_url, args.deadline, ordered=args.ordered, kinds=kinds)
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
