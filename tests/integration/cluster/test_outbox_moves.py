"""Pacing and daily caps when a connection comes back to a node that ran it before: what
that node remembers is stale (another node sent meanwhile), so both are read again from
the database. One node in process on a real PostgreSQL; "node b" is only rows: it takes
the lease, records a send, and is gone (no node row), so node a claims the connection
back."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, _truncate_pg, login, running_server
from tests.integration.api.helpers import API, status_of
from tests.integration.cluster.conftest import node_settings
from tests.integration.messaging.kit import (
    CUSTOMER,
    drive,
    message,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import ManualClock


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_connection_taken_back_paces_and_caps_by_what_the_other_node_sent(
    pg_database: str, tmp_path: Path
) -> None:
    await _truncate_pg(pg_database)
    clock = ManualClock()
    async with running_server(
        node_settings(pg_database, tmp_path, "node-a", restore_jitter=0, outbox_rate_jitter=0),
        clock,
    ) as a:
        headers = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
        cid = await ready_connection(a, headers, clock)
        limits = {"rate_limit_per_minute": 2, "daily_cap": 3}  # one send every 30 s
        assert (
            await a.http.patch(f"{API}/connections/{cid}", headers=headers, json=limits)
        ).status_code == 200
        simulator(a).update_settings(latency_ms=0, auto_receipts=False)
        first = await send(a.http, headers, {"to": CUSTOMER, "text": "one"})
        await wait_status(a, headers, clock, first["id"], "sent")
        await clock.advance(40)  # node a's own pace is long over

        # Node b takes the connection over and sends one message (a scheduled row, so node
        # a never sends it), both in one transaction: node a's keeper may look any time.
        later = (clock.now() + timedelta(hours=1)).isoformat()
        second = await send(
            a.http, headers, {"to": CUSTOMER, "text": "two, by node b", "send_at": later}
        )
        async with a.runtime.db.write() as s:
            await s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == cid)
                .values(node_id="node-b", lease_epoch=ConnectionRow.lease_epoch + 1)
            )
            await s.execute(
                update(MessageRow)
                .where(MessageRow.id == second["id"])
                .values(status="sent", sent_at=clock.now(), next_attempt_at=None)
            )
        by_b = await message(a.http, headers, second["id"])
        assert by_b["status"] == "sent"

        # Node b is gone (no node row): node a's lease keeper lets its own stale session
        # go and claims the connection back, at a new epoch.
        async def back_on_a() -> bool:
            epoch = a.runtime.supervisor.epoch_of(cid) or 0
            state = (await status_of(a.http, headers, cid))["state"]
            return epoch >= 3 and state == "ready"

        await drive(clock, back_on_a, step=0.25, what="the connection back on node a")
        third = await send(a.http, headers, {"to": CUSTOMER, "text": "three"})
        fourth = await send(a.http, headers, {"to": CUSTOMER, "text": "four"})
        after = await wait_status(a, headers, clock, third["id"], "sent")
        # Paced from node b's send, not from node a's own (70 s ago by now).
        assert _at(after["sent_at"]) - _at(by_b["sent_at"]) >= timedelta(seconds=30)

        # One, two (node b's) and three make the day's cap: four waits for tomorrow.
        sender = a.runtime.sender

        async def capped() -> bool:
            return sender.paused_until(cid) is not None

        await drive(clock, capped, step=1, limit=120, what="the lane to stop at the cap")
        minute = clock.monotonic() + 60

        async def a_minute_later() -> bool:
            return clock.monotonic() >= minute

        await drive(clock, a_minute_later, step=5, what="a minute")
        assert (await message(a.http, headers, fourth["id"]))["status"] == "queued"
        assert [e.text for e in simulator(a).outbox(cid)] == ["one", "three"]
