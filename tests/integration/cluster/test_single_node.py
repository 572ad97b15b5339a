"""Without cluster mode (SQLite, or PostgreSQL without ZAPGATE_CLUSTER) nothing changes:
no node row, no lease, and ``/cluster`` says so."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from tests.conftest import Server
from zapgate.store.tables.cluster import NodeRow
from zapgate.store.tables.connections import ConnectionRow

API = "/api/v1"


async def test_a_single_node_registers_nothing_and_owns_without_leases(
    client: httpx.AsyncClient, admin: dict[str, str], server: Server
) -> None:
    made = await client.post(f"{API}/connections", headers=admin, json={"name": "one"})
    assert made.status_code == 201, made.text
    assert made.json()["node_id"] is None
    answer = await client.get(f"{API}/cluster", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "clustered": False,
        "node_id": None,
        "lease_seconds": None,
        "nodes": [],
    }
    started = await client.post(f"{API}/connections/{made.json()['id']}/start", headers=admin)
    assert started.status_code == 202, started.text
    async with server.runtime.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(NodeRow)) == 0
        row = await s.get(ConnectionRow, made.json()["id"])
    assert row is not None
    assert (row.node_id, row.lease_epoch) == (None, 0)
