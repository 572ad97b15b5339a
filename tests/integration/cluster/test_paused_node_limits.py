"""How a clustered runtime is wired so that one node paused (stopped, frozen) cannot
stall the others: its transactions end after a third of a lease without a statement
(``cluster/node.idle_limit``; ``tests/integration/store/test_paused_transaction.py``
shows what that frees), the delivery lock's connection after a lease of silence, and
the dispatcher claims only while the leadership is sure of its lock
(``test_leadership.py``, ``webhooks/test_delivery.py``). A single node sets none."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.conftest import Server, _truncate_pg, running_server
from tests.integration.cluster.conftest import node_settings
from zapgate.store.db import Database
from zapgate.util.clock import ManualClock


async def _idle_limit(db: Database) -> str:
    async with db.write() as s:
        value = await s.scalar(text("SHOW idle_in_transaction_session_timeout"))
    return str(value)


async def test_a_node_bounds_its_transactions_pauses_and_claims_only_while_it_surely_leads(
    nodes: tuple[Server, Server],
) -> None:
    a, _ = nodes
    runtime = a.runtime
    assert runtime.settings.lease_seconds == 15
    assert await _idle_limit(runtime.db) == "5s"
    assert runtime.node is not None
    assert await _idle_limit(runtime.node.lease_db) == "7500ms"
    assert runtime.leadership is not None
    assert runtime.leadership.silence == 15
    assert runtime.webhook_dispatcher.may_claim == runtime.leadership.current


async def test_a_single_node_on_postgresql_sets_no_limit(pg_database: str, tmp_path: Path) -> None:
    await _truncate_pg(pg_database)
    settings = node_settings(pg_database, tmp_path, "unused").model_copy(
        update={"node_id": None, "node_url": None}
    )
    async with running_server(settings, ManualClock()) as server:
        assert not server.runtime.settings.clustered
        assert await _idle_limit(server.runtime.db) == "0"
        assert server.runtime.webhook_dispatcher.may_claim is None  # no leadership
