"""Inbound throughput: the simulator delivers messages over 100 connections from 5,000
customers; measured until every message is stored with its contact, chat and events.

Runs the server runtime in process (no HTTP: the path measured is engine → supervisor →
runner → inbound pipeline → database). Prints one JSON object.
Usage: python -m bench.ingest [--connections 100] [--contacts 5000] [--messages 20000]
[--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench._server import create_pg_database, drop_pg_database
from zapgate.config import Settings
from zapgate.domain.roles import Role
from zapgate.domain.states import ConnectionState
from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.runtime import Runtime
from zapgate.services.context import Principal
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.events import EventRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.gc import tune_for_server


async def bench(database: str, connections: int, contacts: int, messages: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        pg_name = None
        url = f"sqlite+aiosqlite:///{data / 'zapgate.db'}"
        if database != "sqlite":
            url, pg_name = await create_pg_database()
        settings = Settings(
            _env_file=None,
            data_dir=data,
            database_url=url,
            engine="simulator",
            secret_key="b" * 40,
            log_level="WARNING",
            max_connections=100_000,
            argon2_time_cost=1,
            argon2_memory_kib=1024,
        )
        runtime = Runtime.build(settings)
        # As ``zapgate serve`` does once the app is built (``util/gc.py``): without it the
        # cyclic collector took ~12 % of this run, which the server, so tuned, does not spend.
        tune_for_server()
        await runtime.start()
        try:
            return await _run(runtime, connections, contacts, messages)
        finally:
            await runtime.stop()
            if pg_name:
                await drop_pg_database(pg_name)


async def _run(runtime: Runtime, connections: int, contacts: int, messages: int) -> dict[str, Any]:
    engine = runtime.engine
    assert isinstance(engine, SimulatorEngine)
    engine.update_settings(sync_delay_ms=0)
    user = await runtime.accounts.bootstrap(
        email="bench@example.com", password="bench-pass-1", org_name="Bench"
    )
    assert user is not None
    principal = Principal(organization_id=user.organization_id, role=Role.OWNER)
    ids = [
        (await runtime.connections.create(principal, name=f"c{i}")).id for i in range(connections)
    ]
    for i, cid in enumerate(ids):
        await runtime.connections.start(principal, cid)
        runner = runtime.supervisor.get(cid)
        while runner.qr is None:
            await asyncio.sleep(0.005)
        await engine.scan(cid, f"55219{i:07d}1", f"Shop {i}")
    while any(runtime.supervisor.get(c).state is not ConnectionState.READY for c in ids):
        await asyncio.sleep(0.02)
    async with runtime.db.read() as s:
        events_before = int(await s.scalar(select(func.count()).select_from(EventRow)) or 0)

    rng = random.Random(5)
    customers = [f"55119{n:07d}1" for n in range(contacts)]
    started = time.perf_counter()
    # The simulator hands each event to the supervisor at once; the runners and the
    # inbound pipeline then drain their queues, as with a burst from the real network.
    for n in range(messages):
        cid = ids[n % connections]
        await engine.incoming(
            cid, from_phone=rng.choice(customers), text=f"message {n}", push_name="Customer"
        )
        if n % 500 == 499:
            await asyncio.sleep(0)
    while runtime.messaging.recorder.stored < messages:
        await asyncio.sleep(0.01)
        if time.perf_counter() - started > 600:
            raise RuntimeError("ingest did not finish in 10 minutes")
    elapsed = time.perf_counter() - started
    async with runtime.db.read() as s:
        stored = int(await s.scalar(select(func.count()).select_from(MessageRow)) or 0)
        chats = int(await s.scalar(select(func.count()).select_from(ChatRow)) or 0)
        people = int(await s.scalar(select(func.count()).select_from(ContactRow)) or 0)
        events = int(await s.scalar(select(func.count()).select_from(EventRow)) or 0)
    return {
        "messages": messages,
        "stored": stored,
        "contacts": people,
        "chats": chats,
        "events": events - events_before,
        "seconds": round(elapsed, 2),
        "messages_per_second": round(messages / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    results = {
        db: asyncio.run(bench(db, args.connections, args.contacts, args.messages))
        for db in args.databases.split(",")
        if db
    }
    print(
        json.dumps(
            {
                "benchmark": "ingest",
                "connections": args.connections,
                "contacts": args.contacts,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
