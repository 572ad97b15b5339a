"""Two nodes in one process (two runtimes, separate data directories) on one PostgreSQL;
node b's hop reaches node a's app in process. Node a comes first in the fair-share order,
so it runs the connections made in a test and keeps them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, _truncate_pg, running_server
from zapgate.config import Settings
from zapgate.util.clock import ManualClock


def node_settings(url: str, data: Path, node: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=url,
        data_dir=data,
        engine="simulator",
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        admin_org="Acme",
        secret_key="s" * 40,
        log_level="WARNING",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        node_id=node,
        node_url=f"http://{node}",
    )


@pytest.fixture
async def two_nodes(pg_database: str, tmp_path: Path) -> AsyncIterator[tuple[Server, Server]]:
    await _truncate_pg(pg_database)
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            running_server(node_settings(pg_database, tmp_path / "a", "node-a"), ManualClock())
        )
        b = await stack.enter_async_context(
            running_server(node_settings(pg_database, tmp_path / "b", "node-b"), ManualClock())
        )
        b.runtime.connections.commands.transport = httpx.ASGITransport(app=a.app)
        yield a, b
