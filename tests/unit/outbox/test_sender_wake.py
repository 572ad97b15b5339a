"""The outbox dispatcher's wake-ups in a cluster: an accept wakes it only for a
connection this node runs (another node's messages are its owner's to send)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import eventually
from zapgate.engines.simulator import SimulatorEngine
from zapgate.outbox.sender import OutboxSender
from zapgate.services.media import MediaStore
from zapgate.services.payloads import connection_status_payload
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.util.clock import ManualClock


@pytest.fixture
async def db(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Database]:
    target = tmp_path / "zapgate.db"
    shutil.copy(sqlite_template, target)
    database = Database(f"sqlite+aiosqlite:///{target}")
    yield database
    await database.close()


async def test_an_accept_for_another_nodes_connection_wakes_no_dispatch_here(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    supervisor = Supervisor(
        engine=SimulatorEngine(data_dir=tmp_path / "sim", clock=clock),
        db=db,
        clock=clock,
        health_interval=60,
        restore_concurrency=5,
        restore_jitter=0,
        status_payload=connection_status_payload,
        node_id="b",
        capacity=10,
    )
    sender = OutboxSender(
        db,
        clock,
        supervisor,
        MediaStore(tmp_path / "media"),
        rate_per_minute=60,
        jitter=0,
        daily_cap=1000,
        unavailable_timeout=60,
        max_attempts=3,
        poll_interval=1.0,
    )
    await sender.start()
    try:

        async def asleep_after(passes: int) -> bool:
            # The pass is done and the dispatcher waits on its poll (the only sleeper).
            return sender.dispatches == passes and clock.pending == 1

        await eventually(lambda: asleep_after(1), what="the first dispatch pass")
        for _ in range(10):
            sender.wake("runs-on-node-a")  # accepted here, for a connection b does not run
        for _ in range(50):
            await asyncio.sleep(0)
        assert await asleep_after(1)
        sender.wake()  # a wake-up that concerns this node still runs a pass
        await eventually(lambda: asleep_after(2), what="the pass the wake-up asked for")
    finally:
        await sender.close()
        await supervisor.close()
