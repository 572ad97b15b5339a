"""Staged events (group commits): one INSERT for the batch, ids in staging order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, select

from tests.conftest import Server
from zapgate.domain.ids import new_id
from zapgate.events.log import flush_staged, stage_event
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.events import EventRow
from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow


async def test_a_batch_over_many_organizations_costs_a_few_statements(server: Server) -> None:
    runtime = server.runtime
    clock = runtime.clock
    async with runtime.db.write() as s:
        org = new_id()
        s.add(OrganizationRow(id=org, name="Hooked", created_at=clock.now()))
        s.add(
            WebhookRow(
                id=new_id(),
                organization_id=org,
                url="https://93.184.215.14/hook",
                events=["message.received"],
                secret="s" * 32,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    orgs = [org, *(new_id() for _ in range(4))]
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    async with runtime.db.write() as s:
        for n in range(30):
            stage_event(
                s,
                organization_id=orgs[n % len(orgs)],
                type="message.received" if n % 2 == 0 else "message.status",
                data={"n": n},
                created_at=clock.now() + timedelta(microseconds=n),
            )
        # This transaction's statements only (background tasks share the engine).
        connection = (await s.connection()).sync_connection
        event.listen(connection, "before_cursor_execute", record)
        written = await flush_staged(s)
        event.remove(connection, "before_cursor_execute", record)
    # Advisory lock (PostgreSQL), the events, the webhooks of all 5 organizations at
    # once, the deliveries: not one INSERT or one webhook query per event.
    assert len(statements) <= 4, statements
    assert [e.data["n"] for e in written] == list(range(30))
    ids = [e.id for e in written]
    assert ids == sorted(ids)
    assert len(set(ids)) == 30
    async with runtime.db.read() as s:
        rows = (await s.execute(select(EventRow.id, EventRow.data).order_by(EventRow.id))).all()
        stored = {r.id: r.data["n"] for r in rows}
        deliveries = (await s.scalars(select(WebhookDeliveryRow.event_id))).all()
    assert {i: stored[i] for i in ids} == {e.id: e.data["n"] for e in written}
    hooked = [e.id for e in written if e.organization_id == org and e.type == "message.received"]
    assert sorted(deliveries) == hooked
    assert runtime.bus.last_id == ids[-1]
