"""Nodes as real processes on one PostgreSQL: start-up, the registry, lease spreading,
handover at SIGTERM and takeover after SIGKILL."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.cluster.nodes import (
    HookReceiver,
    Node,
    cluster_of,
    empty_pg_database,
    login,
    poll,
)


async def _rows(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def _scalar(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _owned(node: Node) -> dict[str, int]:
    with node.client() as client:
        answer = client.get("/api/v1/cluster")
    assert answer.status_code == 200, answer.text
    return {n["id"]: n["connections"] for n in answer.json()["nodes"] if n["alive"]}


pytestmark = pytest.mark.slow


async def test_three_nodes_start_once_spread_connections_and_fail_over(tmp_path: Path) -> None:
    """One cluster for the whole story (a node process costs seconds to start)."""
    async with empty_pg_database() as url:
        with (
            HookReceiver() as receiver,
            cluster_of(
                url,
                tmp_path,
                lease_seconds="4",
                stream_heartbeat="0.5",
                webhook_allow_private="true",
            ) as cluster,
        ):
            # Started at the same moment on an empty database: one migrates, one admin.
            nodes = [cluster.launch(name) for name in ("a", "b", "c")]
            cluster.wait_ready(*nodes)
            a, b, c = nodes
            assert await _scalar(url, "SELECT count(*) FROM users") == 1
            assert await _scalar(url, "SELECT count(*) FROM organizations") == 1
            assert await _scalar(url, "SELECT count(*) FROM alembic_version") == 1
            logs = [node.log.read_text() for node in nodes]
            assert sum("created the database schema" in text for text in logs) == 1
            assert sum("created the first superadmin" in text for text in logs) == 1
            _check_registry(a, b, c)
            metrics = httpx.get(f"{c.base}/metrics", timeout=10).text
            assert 'zapgate_node{node_id="c"} 1.0' in metrics

            # Every event of the cluster reaches one webhook, once per delivery id.
            with a.client() as client:
                hook = client.post("/api/v1/webhooks", json={"url": receiver.url})
                assert hook.status_code == 201, hook.text
            # Connections made through one node spread over all three.
            with a.client() as client:
                for i in range(60):
                    made = client.post("/api/v1/connections", json={"name": f"n{i}"})
                    assert made.status_code == 201, made.text
                    assert made.json()["node_id"] == "a"
            poll(
                lambda: _owned(b) == {"a": 20, "b": 20, "c": 20},
                timeout=60,
                what="60 connections spread 20/20/20 within a minute",
            )
            with c.client() as client:
                shapes = client.get("/api/v1/connections", params={"limit": 100}).json()["items"]
            assert sorted(s["node_id"] for s in shapes) == ["a"] * 20 + ["b"] * 20 + ["c"] * 20
            _commands_and_events_cross_nodes(c, shapes)

            event_ids = {r["id"] for r in (await _rows(url, "SELECT id FROM events")) if r["id"]}
            poll(
                lambda: {e for _, e in receiver.deliveries} >= event_ids,
                timeout=30,
                what="every event delivered",
            )
            ids = [d for d, _ in receiver.deliveries]
            assert len(ids) == len(set(ids)), "a delivery was sent twice"

            # SIGTERM: its connections are handed over at once.
            c.signal(signal.SIGTERM)
            c.proc.wait(timeout=30)
            poll(lambda: _owned(a) == {"a": 30, "b": 30}, timeout=5, what="c's share handed over")

            # SIGKILL: taken over once its lease (4 s here) runs out.
            b.signal(signal.SIGKILL)
            b.proc.wait(timeout=10)
            poll(lambda: _owned(a) == {"a": 60}, timeout=15, what="b's connections taken over")
            assert await _scalar(url, "SELECT count(*) FROM connections WHERE node_id = 'a'") == 60


def _commands_and_events_cross_nodes(c: Node, shapes: list[dict[str, Any]]) -> None:
    """Through c: commands for connections a and b run reach their owners, their QR codes
    are readable, and a stream on c gets their events in id order."""
    on_a = next(s["id"] for s in shapes if s["node_id"] == "a")
    on_b = next(s["id"] for s in shapes if s["node_id"] == "b")
    with c.client() as client:
        # From the start of the log: the status events only the owners write must come.
        with client.stream("GET", "/api/v1/events/stream", params={"since": "0"}) as live:
            for cid in (on_a, on_b):
                started = client.post(f"/api/v1/connections/{cid}/start")
                assert started.status_code == 202, started.text
            seen: list[tuple[int, str, str]] = []
            deadline = time.monotonic() + 20
            for line in live.iter_lines():
                if line.startswith("data: "):
                    envelope = json.loads(line[6:])
                    seen.append((envelope["id"], envelope["connection_id"], envelope["type"]))
                    statuses = {cid for _, cid, kind in seen if kind == "connection.status"}
                    if {on_a, on_b} <= statuses:
                        break
                assert time.monotonic() < deadline, seen[-5:]
        ids = [event_id for event_id, _, _ in seen]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        for cid in (on_a, on_b):
            qr = poll(
                lambda cid=cid: _qr(client, cid), timeout=10, what="a QR code from another node"
            )
            assert qr["code"]
        # Unknown to every node: still a plain 404.
        missing = client.post("/api/v1/connections/nope/start")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "connection_not_found"


def _qr(client: httpx.Client, cid: str) -> dict[str, Any] | None:
    answer = client.get(f"/api/v1/connections/{cid}/qr")
    if answer.status_code == 404 and answer.json()["error"]["code"] == "qr_not_available":
        return None
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _check_registry(a: Node, b: Node, c: Node) -> None:
    with b.client() as client:
        body = client.get("/api/v1/cluster").json()
    assert body["clustered"] is True
    assert body["node_id"] == "b"
    assert [n["id"] for n in body["nodes"]] == ["a", "b", "c"]
    assert all(n["alive"] and n["url"].startswith("http://127.0.0.1:") for n in body["nodes"])
    # An organization's owner who is not a superadmin may not see the cluster.
    with a.client() as client:
        made = client.post(
            "/api/v1/users",
            json={"email": "owner@example.com", "password": "owner-pass-1", "role": "owner"},
        )
        assert made.status_code == 201, made.text
    token = login(c.base, "owner@example.com", "owner-pass-1")
    with httpx.Client(base_url=c.base, timeout=10) as plain:
        refused = plain.get("/api/v1/cluster", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
