"""The simulator's node-wide controls asked of one node act on every node's simulator:
its settings, whether a number is on WhatsApp, the network switch (each node of this
process has a simulator of its own, as each node process has; docs/cluster.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, eventually, login
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import simulator

QUIET = "5511999990042"


def _until(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


async def test_node_wide_simulator_controls_reach_every_node(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    sim_a, sim_b = simulator(a), simulator(b)

    changed = await a.http.patch(
        f"{API}/simulator/settings",
        headers=ha,
        json={"failure_rate": 0.25, "dead_proxies": ["socks5://10.0.0.9:1080"]},
    )
    assert changed.status_code == 200, changed.text
    assert sim_a.settings.failure_rate == 0.25
    await eventually(
        _until(lambda: sim_b.settings.failure_rate == 0.25),
        timeout=5,
        what="node b's simulator settings",
    )
    assert sim_b.settings.dead_proxies == sim_a.settings.dead_proxies
    assert sim_b.settings.latency_ms == sim_a.settings.latency_ms  # untouched stays so

    assert sim_b.is_on_whatsapp(QUIET)
    off = await a.http.post(
        f"{API}/simulator/numbers", headers=ha, json={"phone": QUIET, "on_whatsapp": False}
    )
    assert off.status_code == 204, off.text
    await eventually(
        _until(lambda: not sim_b.is_on_whatsapp(QUIET)),
        timeout=5,
        what="the number off WhatsApp on node b",
    )

    down = await a.http.post(f"{API}/simulator/network/false", headers=ha)
    assert down.status_code == 204, down.text
    assert not sim_a.network_up
    await eventually(
        _until(lambda: not sim_b.network_up),
        timeout=5,
        what="the network down on node b",
    )
    up = await a.http.post(f"{API}/simulator/network/true", headers=ha)
    assert up.status_code == 204, up.text
    await eventually(
        _until(lambda: sim_b.network_up),
        timeout=5,
        what="the network up on node b",
    )
    # Reset to a default through b: back on a as well.
    reset = await b.http.patch(
        f"{API}/simulator/settings",
        headers=await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD),
        json={"failure_rate": None},
    )
    assert reset.status_code == 200, reset.text
    await eventually(
        _until(lambda: sim_a.settings.failure_rate == 0.0),
        timeout=5,
        what="node a's failure rate back to its default",
    )
