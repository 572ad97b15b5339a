"""An export with more pending events than one batch publishes them all at once, batch
after batch, without waiting for the idle poll (SQLite and PostgreSQL, the machine's
NATS; the batch is made small so a few events are a backlog)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import Server
from tests.integration.exports.test_brokers import add_export, consumer, received
from zapgate.config import Settings
from zapgate.events.log import flush_staged, stage_event
from zapgate.exports.publishing import BrokerTransport
from zapgate.util.clock import ManualClock


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def test_a_backlog_longer_than_a_batch_goes_out_without_waiting_for_the_poll(
    server: Server, admin: dict[str, str], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BrokerTransport, "batch", 2)
    org = (await server.http.get("/api/v1/me", headers=admin)).json()["organization"]["id"]
    async with consumer("nats") as (body, target):
        await add_export(server.http, admin, url="nats://127.0.0.1:4222", **body)
        # One commit of seven events: the worker is woken once, and must go on claiming
        # batch after batch by itself. The clock never moves: the 30 s idle poll would
        # never come.
        async with server.runtime.db.write() as s:
            for n in range(7):
                stage_event(
                    s,
                    organization_id=org,
                    type="message.received",
                    data={"n": n},
                    created_at=clock.now(),
                )
            await flush_staged(s)
        messages = await received(target, 7)
    assert [m.envelope["data"]["n"] for m in messages] == list(range(7))
