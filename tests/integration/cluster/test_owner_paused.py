"""A delete and a settings change asked of a node that does not run the connection, with
real processes (two nodes, the simulated network, one PostgreSQL): the delete runs on
the owner (the device unlinked), or deletes nothing while the owner does not answer; a
settings change saved while the owner is paused is answered as saved and applied by
the owner's own lease round once it runs again."""

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

WAIT = 2.0
"""ZAPGATE_NODE_TIMEOUT here: how long the asking node waits for the paused owner. The
pauses last about that long, well within what the 15 s lease tolerates (a node goes
silent only after 7.5 s without a heartbeat)."""


def _report(network: str) -> dict[str, Any]:
    answer = httpx.get(f"{network}/report", timeout=10)
    answer.raise_for_status()
    report: dict[str, Any] = answer.json()
    return report


def _linked(network: str, cid: str) -> bool:
    answer = httpx.get(f"{network}/accounts/{cid}", timeout=10)
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


def _shapes(node: Node) -> list[dict[str, Any]]:
    with node.client() as client:
        answer = client.get("/api/v1/connections")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _one_on_each(node: Node, network: str) -> dict[str, str] | None:
    """Node -> its connection, once each node runs one, ready, its session live there."""
    shapes = _shapes(node)
    if sorted(s["node_id"] or "" for s in shapes) != ["a", "b"]:
        return None
    if any(s["state"] != "ready" for s in shapes):
        return None
    if _report(network)["live"] != {s["id"]: s["node_id"] for s in shapes}:
        return None
    return {s["node_id"]: s["id"] for s in shapes}


def _refused(node: Node, command: str) -> bool:
    """Whether ``node`` refused a carried ``command`` that reached it too late."""
    lines = node.log.read_text(errors="replace").splitlines()
    late = "refused a command that came after its asking node stopped waiting"
    return any(late in line and f"command={command}" in line for line in lines)


def _ready_on(node: Node, cid: str, owner: str) -> bool:
    with node.client() as client:
        shape = client.get(f"/api/v1/connections/{cid}").json()
    return bool(shape["state"] == "ready" and shape["node_id"] == owner)


async def test_delete_and_settings_asked_of_a_node_that_does_not_run_the_connection(
    tmp_path: Path,
) -> None:
    async with empty_pg_database() as url:
        with network_process(tmp_path) as network:
            settings = {"simulator_url": network, "node_timeout": str(WAIT)}
            with cluster_of(url, tmp_path, **settings) as cluster:
                a, b = cluster.start("a", "b")
                link_connections(a, 2, name="n", phones="551198")
                on = poll(
                    lambda: _one_on_each(a, network), timeout=40, what="one ready on each node"
                )
                cid = on["a"]  # a runs it, b is asked

                # A settings change while a is paused: saved and answered as saved.
                opened = _report(network)["opened"][cid]
                a.signal(signal.SIGSTOP)
                try:
                    with b.client() as client:
                        saved = client.patch(
                            f"/api/v1/connections/{cid}",
                            json={"proxy_url": "http://zap:pw@proxy.example:3128"},
                        )
                finally:
                    a.signal(signal.SIGCONT)
                assert saved.status_code == 200, saved.text
                assert saved.json()["proxy_url"] == "http://zap:***@proxy.example:3128"
                # Awake, a refuses the carried command that waited for it (too late), and
                # applies the change at its next lease round: the session dials again.
                poll(
                    lambda: _refused(a, "configure"), timeout=15, what="the late configure refused"
                )
                poll(
                    lambda: "applied settings saved through another node" in a.log.read_text(),
                    timeout=15,
                    what="a applying the settings by itself",
                )
                poll(
                    lambda: _report(network)["opened"][cid] == opened + 1,
                    timeout=15,
                    what="the session dialed again",
                )
                poll(lambda: _ready_on(b, cid, "a"), timeout=15, what="ready again on a")

                # A delete while a is paused: refused, nothing deleted, even once a wakes
                # and reads the command that waited for it (it came too late: not run).
                assert _linked(network, cid)
                a.signal(signal.SIGSTOP)
                try:
                    with b.client() as client:
                        refused = client.delete(f"/api/v1/connections/{cid}")
                finally:
                    a.signal(signal.SIGCONT)
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"]["code"] == "node_unreachable"
                poll(lambda: _refused(a, "delete"), timeout=15, what="the late delete refused")
                with b.client() as client:  # a answers again
                    checked = client.post(
                        f"/api/v1/connections/{cid}/check-numbers",
                        json={"phones": ["+5511977770001"]},
                    )
                    assert checked.status_code == 200, checked.text
                assert {s["id"] for s in _shapes(b)} == set(on.values())
                assert _linked(network, cid)

                # The same delete with a awake: run there, the device unlinked.
                with b.client() as client:
                    deleted = client.delete(f"/api/v1/connections/{cid}")
                assert deleted.status_code == 204, deleted.text
                assert not _linked(network, cid)
                assert cid not in _report(network)["live"]
                for node in (a, b):
                    with node.client() as client:
                        assert client.get(f"/api/v1/connections/{cid}").status_code == 404
                assert [s["id"] for s in _shapes(a)] == [on["b"]]
                assert _linked(network, on["b"])
                assert "closing every session here" not in a.log.read_text()
