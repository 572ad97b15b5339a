"""Failover with the simulated network as its own process: linked connections move to
new nodes and stay ready; a node killed during a send burst loses nothing and nothing
reaches the network twice."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cluster.nodes import (
    Node,
    cluster_of,
    empty_pg_database,
    link_connections,
    network_process,
    poll,
)

pytestmark = pytest.mark.slow

CONNECTIONS = 6
MESSAGES = 36


def _connections(node: Node) -> list[dict[str, Any]]:
    with node.client() as client:
        answer = client.get("/api/v1/connections", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _all_ready(node: Node, owners: set[str]) -> list[dict[str, Any]] | None:
    shapes = _connections(node)
    ok = all(s["state"] == "ready" and s["node_id"] in owners for s in shapes)
    return shapes if ok and len(shapes) == CONNECTIONS else None


def _spread_and_ready(node: Node) -> list[dict[str, Any]] | None:
    shapes = _all_ready(node, {"a", "b", "c"})
    if shapes is None or sorted(s["node_id"] for s in shapes) != ["a", "a", "b", "b", "c", "c"]:
        return None
    return shapes


def _live_where_owned(node: Node, network: str) -> list[dict[str, Any]] | None:
    shapes = _all_ready(node, {"a", "c"})
    if shapes is None or len({s["node_id"] for s in shapes}) != 2:
        return None
    live = _report(network)["live"]
    return shapes if live == {s["id"]: s["node_id"] for s in shapes} else None


def _report(network: str) -> dict[str, Any]:
    answer = httpx.get(f"{network}/report", timeout=10)
    answer.raise_for_status()
    report: dict[str, Any] = answer.json()
    return report


def _carried_from_another_node(
    owner: Node, asker: Node, shapes: list[dict[str, Any]]
) -> dict[str, str]:
    """Engine calls asked of a node that does not run the connection run on its owner
    (services/commands.py): a number check, a group created, a sent message edited.
    The message it sent (id: WhatsApp id)."""
    cid = next(s["id"] for s in shapes if s["node_id"] == owner.name)
    with asker.client() as client:

        def check() -> httpx.Response | None:
            answer = client.post(
                f"/api/v1/connections/{cid}/check-numbers",
                json={"phones": ["+5511977770001", "+5511977770000"]},
            )
            # Just after a handover the row can still say ``ready`` (the old owner's
            # last write) while the new owner's session is opening: 409 until it is.
            return None if answer.status_code == 409 else answer

        checked = poll(check, timeout=20, what="the new owner's session ready")
        assert checked.status_code == 200, checked.text
        assert [c["on_whatsapp"] for c in checked.json()] == [True, False]
        group = client.post(
            f"/api/v1/connections/{cid}/groups",
            json={"subject": "Clientes", "participants": ["+5511977770001"]},
        )
        assert group.status_code == 201, group.text
        assert group.json()["jid"].endswith("@g.us")
        sent = client.post(
            "/api/v1/messages", json={"connection_id": cid, "to": "5511977770002", "text": "oi"}
        )
        assert sent.status_code == 202, sent.text
        mid = sent.json()["id"]

        def is_sent() -> bool:
            status = client.get(f"/api/v1/messages/{mid}").json()["status"]
            return status in ("sent", "delivered", "read")

        poll(is_sent, timeout=20, what="the message to edit sent")
        edited = client.post(f"/api/v1/messages/{mid}/edit", json={"text": "oi!"})
        assert edited.status_code == 200, edited.text
        assert edited.json()["edited_at"] is not None
    return {mid: sent.json()["wa_message_id"]}


async def test_linked_connections_move_and_a_killed_node_loses_no_message(
    tmp_path: Path,
) -> None:
    settings = {
        "lease_seconds": "4",
        "outbox_rate_limit_per_minute": "600",
        "outbox_rate_jitter": "0",
    }
    async with empty_pg_database() as url:
        with network_process(tmp_path) as network:
            settings["simulator_url"] = network
            with cluster_of(url, tmp_path, **settings) as cluster:
                (a,) = cluster.start("a")
                link_connections(a, CONNECTIONS, name="n", phones="551197")
                poll(lambda: _all_ready(a, {"a"}), timeout=30, what="linked on a")

                # Two more nodes: ready connections are handed over and resume there.
                b, c = cluster.launch("b"), cluster.launch("c")
                cluster.wait_ready(b, c)
                shapes = poll(lambda: _spread_and_ready(a), timeout=60, what="2/2/2 and ready")
                assert _report(network)["stale_sends"] == 0
                carried = _carried_from_another_node(b, c, shapes)

                # A send burst through all three nodes, b killed in the middle of it.
                accepted: dict[str, str] = dict(carried)
                nodes = (a, b, c)
                for i in range(MESSAGES):
                    if i == MESSAGES // 2:
                        b.signal(signal.SIGKILL)
                    via = nodes[i % 3] if b.alive() else (a, c)[i % 2]
                    body = {
                        "connection_id": shapes[i % CONNECTIONS]["id"],
                        "to": "5511987650000"[:-4] + f"{i + 1:04d}",
                        "text": f"burst {i}",
                    }
                    with via.client() as client:
                        answer = client.post("/api/v1/messages", json=body)
                    if answer.status_code == 202:
                        accepted[answer.json()["id"]] = answer.json()["wa_message_id"]
                    else:  # only b, dying, may fail to answer
                        assert via is b, answer.text
                b.proc.wait(timeout=10)
                assert len(accepted) >= MESSAGES - 3

                moved = poll(
                    lambda: _all_ready(a, {"a", "c"}), timeout=30, what="b's connections ready"
                )
                assert {s["node_id"] for s in moved} == {"a", "c"}

                def all_sent() -> bool:
                    with a.client() as client:
                        statuses = [
                            client.get(f"/api/v1/messages/{mid}").json()["status"]
                            for mid in accepted
                        ]
                    return all(s in ("sent", "delivered", "read") for s in statuses)

                poll(all_sent, timeout=30, what="every accepted message sent")
                delivered: list[str] = []
                for shape in moved:
                    entries = httpx.get(f"{network}/sends/{shape['id']}", timeout=10).json()
                    delivered += [e["wa_message_id"] for e in entries]
                assert sorted(delivered) == sorted(accepted.values())  # each once
                assert _report(network)["stale_sends"] == 0

                # c paused past its lease: a takes everything over; woken up, c gives up
                # its sessions and sends nothing through them.
                c.signal(signal.SIGSTOP)
                try:
                    poll(lambda: _all_ready(a, {"a"}), timeout=30, what="c's connections on a")
                    with a.client() as client:
                        late = client.post(
                            "/api/v1/messages",
                            json={
                                "connection_id": moved[0]["id"],
                                "to": "5511987651111",
                                "text": "after the pause",
                            },
                        )
                    assert late.status_code == 202, late.text
                    accepted[late.json()["id"]] = late.json()["wa_message_id"]
                finally:
                    c.signal(signal.SIGCONT)
                poll(
                    lambda: "closing every session here" in c.output(), timeout=20, what="c silent"
                )
                poll(all_sent, timeout=30, what="every message sent")
                # Then c takes its share again, fresh: every session live exactly where
                # the table says it runs.
                settled = poll(
                    lambda: _live_where_owned(a, network), timeout=40, what="c's share back"
                )
                assert {s["node_id"] for s in settled} == {"a", "c"}
                delivered = []
                for shape in moved:
                    entries = httpx.get(f"{network}/sends/{shape['id']}", timeout=10).json()
                    delivered += [e["wa_message_id"] for e in entries]
                assert sorted(delivered) == sorted(accepted.values())
                assert _report(network)["stale_sends"] == 0
