"""A rolling restart of every node, with sends flowing all along, loses nothing.

Real processes (the simulated network, three nodes, one PostgreSQL). A client thread
keeps sending through whichever nodes answer, as behind a load balancer, while each
node in turn is stopped (SIGTERM: it hands its connections over) and started again.
Every message any node accepted (202) is sent, each reaches the network exactly once,
no node ever sent through a session it no longer held, and every connection ends ready.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

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
from tests.integration.cluster.test_failover import (
    CONNECTIONS,
    _all_ready,
    _report,
    _spread_and_ready,
)

pytestmark = pytest.mark.slow


class Sender(threading.Thread):
    """Sends through the nodes in turn, as a client behind a load balancer: each message
    has its own Idempotency-Key and is tried again on the next node while no node
    answered (one restarting, or an answer lost to a timeout: it may have been accepted,
    and the key makes the retry name the same message). Keeps what was accepted:
    id -> WhatsApp id."""

    def __init__(self, nodes: dict[str, Node], connection_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.nodes = nodes
        self.connection_ids = connection_ids
        self.accepted: dict[str, str] = {}
        self.refused: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        for i in itertools.count():
            if self.stopping.is_set():
                return
            body = {
                "connection_id": self.connection_ids[i % len(self.connection_ids)],
                "to": f"55119876{i % 9999 + 1:05d}",  # one ending 0000 is not on WhatsApp
                "text": f"rolling {i}",
            }
            key = {"Idempotency-Key": f"rolling-{i}"}
            answer = None
            for attempt in itertools.count(i):
                if self.stopping.is_set() and attempt - i > 30:
                    return
                node = list(self.nodes.values())[attempt % len(self.nodes)]
                try:
                    with node.client() as client:
                        answer = client.post("/api/v1/messages", json=body, headers=key, timeout=5)
                except httpx.TransportError:
                    answer = None  # down or slow: the next node, same key
                if answer is not None and answer.status_code < 500 and answer.status_code != 401:
                    break
                # A node shutting down may refuse (503); one just started has no token
                # here yet (401 until the test logged in to it).
                if answer is not None:
                    self.refused.append(f"{node.name}: {answer.status_code} {answer.text[:120]}")
                self.stopping.wait(0.05)
            assert answer is not None
            assert answer.status_code in (200, 202), answer.text
            self.accepted[answer.json()["id"]] = answer.json()["wa_message_id"]
            self.stopping.wait(0.05)


async def test_a_rolling_restart_of_every_node_loses_nothing(tmp_path: Path) -> None:
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
                link_connections(a, CONNECTIONS, name="r", phones="551196")
                poll(lambda: _all_ready(a, {"a"}), timeout=30, what="linked on a")
                cluster.start("b", "c")
                shapes = poll(lambda: _spread_and_ready(a), timeout=60, what="2/2/2 and ready")

                sender = Sender(cluster.nodes, [s["id"] for s in shapes])
                sender.start()
                try:
                    for name in ("a", "b", "c"):
                        poll(lambda: len(sender.accepted) >= 5, timeout=20, what="sends")
                        before = len(sender.accepted)
                        cluster.nodes[name].stop()  # SIGTERM: hands over, then exits
                        # Sends go on through the other two while it is down.
                        poll(
                            lambda before=before: len(sender.accepted) >= before + 5,
                            timeout=20,
                            what=f"sends while {name} is down",
                        )
                        cluster.start(name)
                        others = {"a", "b", "c"} - {name}
                        poll(
                            lambda others=others: _all_ready(
                                cluster.nodes[min(others)], {"a", "b", "c"}
                            ),
                            timeout=30,
                            what=f"every connection ready after {name} came back",
                        )
                finally:
                    sender.stopping.set()
                    sender.join(timeout=10)

                accepted = sender.accepted
                assert len(accepted) >= 30, sender.refused
                c = cluster.nodes["c"]

                pending: dict[str, dict[str, object]] = {}

                def all_sent() -> bool:
                    pending.clear()
                    with c.client() as client:
                        for mid in accepted:
                            shape = client.get(f"/api/v1/messages/{mid}").json()
                            if shape["status"] not in ("sent", "delivered", "read"):
                                pending[mid] = shape
                    return not pending

                try:
                    poll(all_sent, timeout=60, what="every accepted message sent")
                except AssertionError:
                    raise AssertionError(
                        f"{len(pending)} of {len(accepted)} not sent: {list(pending.values())[:3]}"
                    ) from None
                final = poll(
                    lambda: _all_ready(c, {"a", "b", "c"}), timeout=30, what="all ready at the end"
                )
                delivered: list[str] = []
                for shape in final:
                    entries = httpx.get(f"{network}/sends/{shape['id']}", timeout=10).json()
                    delivered += [e["wa_message_id"] for e in entries]
                assert sorted(delivered) == sorted(accepted.values())  # each exactly once
                assert _report(network)["stale_sends"] == 0
