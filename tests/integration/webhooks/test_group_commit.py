"""The webhook outcome recorder's group commit against a real HTTP receiver, given a
group that fails on one outcome: every other outcome of that group is written, and only
the bad one fails, so its neighbours are not sent again (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import httpx
import pytest
from sqlalchemy import delete, select

from tests.conftest import Server, eventually
from tests.integration.api.helpers import create_connection
from tests.integration.servers import Receiver, receiving
from tests.integration.webhooks.test_delivery import add_webhook
from zapgate.config import Settings
from zapgate.store.tables.webhooks import WebhookAttemptRow, WebhookDeliveryRow
from zapgate.util.clock import ManualClock
from zapgate.webhooks import outcomes
from zapgate.webhooks.outcomes import Outcome, OutcomeRecorder

GROUP = 4


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def test_a_group_of_outcomes_failing_on_one_writes_every_other_outcome(
    server: Server,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dispatcher = server.runtime.webhook_dispatcher
    # A group is written once GROUP outcomes wait, never sooner: all of them share it.
    dispatcher.policy = replace(dispatcher.policy, batch=GROUP)
    monkeypatch.setattr(outcomes, "RECORD_INTERVAL", 3600.0)
    groups: list[list[str]] = []
    write = OutcomeRecorder._write

    async def watched(self: OutcomeRecorder, group: list[Outcome]) -> list[datetime | None]:
        groups.append([o.delivery_id for o in group])
        return await write(self, group)

    monkeypatch.setattr(OutcomeRecorder, "_write", watched)
    async with receiving(Receiver(gate=asyncio.Event())) as receiver:
        await add_webhook(client, admin, receiver.url, events=["connection.created"])
        cids = [(await create_connection(client, admin, f"C{n}"))["id"] for n in range(GROUP)]

        async def all_in_flight() -> bool:
            return receiver.arrived == GROUP

        await eventually(all_in_flight, what="every request in flight")
        db = server.runtime.db
        async with db.read() as s:
            rows = await s.execute(select(WebhookDeliveryRow.connection_id, WebhookDeliveryRow.id))
            delivery = {cid: did for cid, did in rows.all() if cid is not None}
        bad = delivery[cids[2]]
        # The bad outcome: its delivery is deleted while its request is in flight, so its
        # attempt row has nothing to refer to and its group's transaction fails.
        async with db.write() as s:
            await s.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.id == bad))
        assert receiver.gate is not None
        receiver.gate.set()

        async def crashed() -> bool:
            return dispatcher.restarts == 1

        await eventually(crashed, what="the worker failing on the bad outcome")
        [shared, *alone] = groups
        assert sorted(shared) == sorted(delivery.values())
        assert alone == [[did] for did in shared]
        async with db.read() as s:
            stored = {
                row.id: (row.status, row.attempts)
                for row in (await s.scalars(select(WebhookDeliveryRow))).all()
            }
            attempts = sorted((await s.scalars(select(WebhookAttemptRow.delivery_id))).all())
        good = sorted(did for did in delivery.values() if did != bad)
        assert stored == dict.fromkeys(good, ("delivered", 1))
        assert attempts == good

        # The worker restarts with its backoff; the written outcomes are not sent again.
        await clock.advance(2)

        async def recovered() -> bool:
            return dispatcher.problem() is None

        await eventually(recovered, what="the worker running again")
        assert receiver.arrived == GROUP
        assert len(receiver.event_ids()) == GROUP
        assert dispatcher.failing(frozenset({"http"})) == {}
