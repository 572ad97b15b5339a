"""A delete asked of a node that does not run the connection, in one process (node a
runs it, node b is asked; the hop an in-process transport that can be cut). It runs on
the owner, which deletes the session (the simulated device unlinked); while the owner
does not answer, nothing is deleted."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, login
from tests.integration.api.helpers import API
from tests.integration.cluster.conftest import Hop
from tests.integration.messaging.kit import ready_connection, simulator
from zapgate.domain.events import EventType
from zapgate.domain.ids import new_id
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.events import EventRow
from zapgate.util.clock import ManualClock


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def _exists(server: Server, cid: str) -> bool:
    async with server.runtime.db.read() as s:
        return await s.get(ConnectionRow, cid) is not None


async def _deleted_events(server: Server, cid: str) -> int:
    async with server.runtime.db.read() as s:
        found = await s.scalar(
            select(func.count())
            .select_from(EventRow)
            .where(
                EventRow.connection_id == cid,
                EventRow.type == EventType.CONNECTION_DELETED.value,
            )
        )
    return int(found or 0)


async def test_a_delete_asked_of_another_node_deletes_the_session_on_the_owner(
    nodes: tuple[Server, Server], hop: Hop
) -> None:
    a, b = nodes
    clock_a: ManualClock = a.runtime.clock  # type: ignore[assignment]
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    hb = await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    cid = await ready_connection(a, ha, clock_a)
    network = simulator(a).network
    assert network.account(cid) is not None

    # The owner does not answer: nothing is deleted, the device stays linked.
    hop.cut = True
    refused = await b.http.delete(f"{API}/connections/{cid}", headers=hb)
    assert (refused.status_code, _code(refused)) == (503, "node_unreachable")
    assert await _exists(a, cid)
    assert a.runtime.supervisor.find(cid) is not None
    assert network.account(cid) is not None
    assert await _deleted_events(a, cid) == 0

    # It answers: the delete runs there, as on one node.
    hop.cut = False
    deleted = await b.http.delete(f"{API}/connections/{cid}", headers=hb)
    assert deleted.status_code == 204, deleted.text
    assert b.runtime.connections.commands.forwarded == 1
    assert a.runtime.supervisor.find(cid) is None
    assert network.account(cid) is None  # the session deleted: the device unlinked
    assert not await _exists(a, cid)
    assert await _deleted_events(a, cid) == 1
    gone = await a.http.get(f"{API}/connections/{cid}", headers=ha)
    assert gone.status_code == 404


async def test_a_connection_no_node_runs_is_deleted_where_asked(
    nodes: tuple[Server, Server], hop: Hop
) -> None:
    _, b = nodes
    hop.cut = True  # no hop is needed
    hb = await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    made = await b.http.post(f"{API}/connections", headers=hb, json={"name": "model"})
    assert made.status_code == 201, made.text
    async with b.runtime.db.write() as s:
        model = await s.get(ConnectionRow, made.json()["id"])
        assert model is not None
        ghost = new_id()
        s.add(
            ConnectionRow(
                id=ghost,
                organization_id=model.organization_id,
                name="between owners",
                state="idle",
                node_id=None,
                lease_epoch=3,
                created_at=model.created_at,
                updated_at=model.updated_at,
            )
        )
    deleted = await b.http.delete(f"{API}/connections/{ghost}", headers=hb)
    assert deleted.status_code == 204, deleted.text
    assert not await _exists(b, ghost)
    assert await _deleted_events(b, ghost) == 1
    assert b.runtime.connections.commands.forwarded == 0


async def test_a_linked_connection_no_node_runs_leaves_no_device_behind(
    nodes: tuple[Server, Server], hop: Hop
) -> None:
    """Its owner let it go and no node claimed it yet: the node asked deletes the row and
    its engine forgets the device (the simulated network's account; neonize's rows in
    the shared device store, ``tests/integration/engines/neonize``)."""
    a, b = nodes
    clock_a: ManualClock = a.runtime.clock  # type: ignore[assignment]
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    hb = await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    cid = await ready_connection(a, ha, clock_a)
    network = simulator(a).network
    # One WhatsApp for both nodes, as with the simulated network in its own process
    # (``ZAPGATE_SIMULATOR_URL``); in this process each node made its own.
    simulator(b).network = network
    await a.runtime.supervisor.let_go([cid])
    async with a.runtime.db.write() as s:
        row = await s.get(ConnectionRow, cid)
        assert row is not None
        row.node_id = None
    assert network.account(cid) is not None  # closed, still linked

    hop.cut = True  # no hop is needed
    deleted = await b.http.delete(f"{API}/connections/{cid}", headers=hb)
    assert deleted.status_code == 204, deleted.text
    assert b.runtime.connections.commands.forwarded == 0
    assert not await _exists(b, cid)
    assert network.account(cid) is None
