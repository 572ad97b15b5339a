"""Two nodes in one process (two runtimes, separate data directories) on one PostgreSQL;
node b's hop reaches node a's app in process. Node a comes first in the fair-share order,
so it runs the connections made in a test and keeps them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, _truncate_pg, running_server
from zapgate.config import Settings
from zapgate.util.clock import ManualClock


def node_settings(url: str, data: Path, node: str, **more: Any) -> Settings:
    """A node's settings (``more``: other settings by name)."""
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
        **more,
    )


@pytest.fixture
async def nodes(pg_database: str, tmp_path: Path) -> AsyncIterator[tuple[Server, Server]]:
    """Node a (runs the connections: first in the fair-share order, it keeps them) and
    node b (asks); b's hop reaches a's app in process."""
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


class Hop(httpx.AsyncBaseTransport):
    """Node b's way to node a, cut at will (a paused or dead owner)."""

    def __init__(self, owner: Server) -> None:
        self._inner = httpx.ASGITransport(app=owner.app)
        self.cut = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.cut:
            raise httpx.ConnectError("the owner does not answer", request=request)
        return await self._inner.handle_async_request(request)


@pytest.fixture
def hop(nodes: tuple[Server, Server]) -> Hop:
    """Node b's hop to node a, which a test cuts and mends."""
    a, b = nodes
    found = Hop(a)
    b.runtime.connections.commands.transport = found
    return found
