"""A settings change asked of a node that does not run the connection, in one process
(node a runs it, node b is asked; the hop an in-process transport that can be cut). It
is saved and answered as saved whatever the hop does: carried, the owner applies it at
once; not, the owner's next lease round finds it. Either way it is applied once."""

from __future__ import annotations

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, eventually, login
from tests.integration.api.helpers import API
from tests.integration.cluster.conftest import Hop
from tests.integration.messaging.kit import ready_connection, simulator
from zapgate.domain.states import ConnectionState
from zapgate.util.clock import ManualClock

PROXY = "http://joao:s3cr3t@proxy.example:3128"


async def test_settings_saved_while_the_owner_does_not_answer_are_applied_by_its_lease_round(
    nodes: tuple[Server, Server], hop: Hop
) -> None:
    a, b = nodes
    clock_a: ManualClock = a.runtime.clock  # type: ignore[assignment]
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    hb = await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    cid = await ready_connection(a, ha, clock_a)
    runner = a.runtime.supervisor.get(cid)
    keeper = a.runtime.node.keeper if a.runtime.node else None
    assert keeper is not None

    sessions = simulator(a)._sessions
    first = sessions[cid]

    async def redialed(proxy: str | None, before: object) -> None:
        async def dialed() -> bool:
            await clock_a.advance(1)
            session = sessions.get(cid)
            if session is None or session is before:
                return False
            return session.spec.behaviour.proxy_url == proxy

        await eventually(dialed, what=f"the session dialed again with proxy {proxy}")
        assert runner.state is ConnectionState.READY

    # Saved and answered as saved, though the owner did not hear of it.
    hop.cut = True
    saved = await b.http.patch(
        f"{API}/connections/{cid}", headers=hb, json={"proxy_url": PROXY, "ignore_groups": True}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["proxy_url"] == "http://joao:***@proxy.example:3128"
    assert saved.json()["ignore_groups"] is True
    assert runner.behaviour.proxy_url is None
    assert sessions[cid] is first

    # The owner's next lease round applies it: the flags now, the proxy by a redial.
    await keeper.round()
    assert runner.behaviour.proxy_url == PROXY
    assert runner.behaviour.ignore_groups is True
    await redialed(PROXY, first)
    second = sessions[cid]
    await keeper.round()  # nothing new: no second redial
    assert sessions[cid] is second

    # The owner answers: applied at once by the carried command, and only once.
    hop.cut = False
    cleared = await b.http.patch(f"{API}/connections/{cid}", headers=hb, json={"proxy_url": None})
    assert cleared.status_code == 200, cleared.text
    assert runner.behaviour.proxy_url is None
    await redialed(None, second)
    third = sessions[cid]
    await keeper.round()
    assert sessions[cid] is third
