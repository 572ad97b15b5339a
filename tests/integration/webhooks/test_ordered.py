"""Ordered webhooks (``ordered: true``) against a real HTTP receiver on 127.0.0.1: one
delivery in flight, in event id order, a failing one holding back the later ones
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, eventually, login, running_server
from tests.integration.api.helpers import API, create_connection
from tests.integration.servers import Receiver, receiving
from tests.integration.webhooks.test_delivery import add_webhook, advance_until, deliveries
from zapgate.config import Settings
from zapgate.util.clock import ManualClock


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


def _arrivals(receiver: Receiver) -> list[int]:
    """Event id of every request, answered with success or not, in arrival order."""
    return [r.envelope["id"] for r in receiver.requests]


async def test_ordered_is_part_of_the_webhook_resource(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = "https://93.184.215.14/hook"
    plain = await add_webhook(client, admin, url)
    assert plain["ordered"] is False
    hook = await add_webhook(client, admin, url, ordered=True)
    assert hook["ordered"] is True
    path = f"{API}/webhooks/{hook['id']}"
    assert (await client.get(path, headers=admin)).json()["ordered"] is True
    listed = (await client.get(f"{API}/webhooks", headers=admin)).json()["items"]
    assert [item["ordered"] for item in listed] == [False, True]
    # A null changes nothing (it cannot be unset); false turns it off.
    kept = await client.patch(path, headers=admin, json={"ordered": None, "description": "x"})
    assert kept.json()["ordered"] is True
    off = await client.patch(path, headers=admin, json={"ordered": False})
    assert off.status_code == 200, off.text
    assert off.json()["ordered"] is False
    bad = await client.post(f"{API}/webhooks", headers=admin, json={"url": url, "ordered": "maybe"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


async def test_a_failing_delivery_holds_back_the_later_ones_until_it_succeeds(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    async with receiving(Receiver()) as receiver:
        hook = await add_webhook(
            client, admin, receiver.url, ordered=True, events=["connection.created"]
        )
        await create_connection(client, admin, "Shop 0")

        async def first() -> bool:
            return len(receiver.event_ids()) == 1

        await eventually(first, what="the first delivery")
        receiver.fail_next = 2  # the next event fails twice, then goes through
        for i in range(1, 8):
            await create_connection(client, admin, f"Shop {i}")

        async def failed_once() -> bool:
            return receiver.arrived >= 2

        await eventually(failed_once, what="the first failure")

        async def all_delivered() -> bool:
            return len(receiver.event_ids()) == 8

        await advance_until(clock, all_delivered, what="every event after the retries")
        ids = receiver.event_ids()
        assert ids == sorted(ids)
        assert len(set(ids)) == 8
        # The failing event was tried three times before any later one went out.
        assert _arrivals(receiver) == [ids[0], ids[1], ids[1], ids[1], *ids[2:]]

        async def recorded() -> bool:
            items = await deliveries(client, admin, hook["id"])
            return all(item["status"] == "delivered" for item in items)

        await eventually(recorded, what="every delivery recorded")
        attempts = {
            i["event_id"]: i["attempts"] for i in await deliveries(client, admin, hook["id"])
        }
        assert attempts == {event_id: 3 if event_id == ids[1] else 1 for event_id in ids}


async def test_a_delivery_given_up_releases_the_next(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    # Six minutes of retries instead of a day: the manual clock wakes every sleeper of
    # the server on its way, so a simulated day takes real time.
    settings = settings_factory(webhook_allow_private=True, webhook_retry_hours=0.1)
    async with receiving(Receiver()) as receiver, running_server(settings, clock) as server:
        http = server.http
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        hook = await add_webhook(
            http, admin, receiver.url, ordered=True, events=["connection.created"]
        )
        first = await create_connection(http, admin, "Shop 0")

        async def first_delivered() -> bool:
            return len(receiver.event_ids()) == 1

        await eventually(first_delivered, what="the first delivery")
        receiver.status = 503  # the next event fails until it is given up
        for i in (1, 2):
            await create_connection(http, admin, f"Shop {i}")

        async def failing() -> bool:
            return receiver.arrived >= 2

        await eventually(failing, what="the first failure")
        receiver.status = 200
        stuck = receiver.requests[-1].envelope["id"]
        receiver.refuse_events = {stuck}

        async def released() -> bool:
            return len(receiver.event_ids()) == 2

        await advance_until(clock, released, step=60, what="the event after the given-up one")
        arrivals = _arrivals(receiver)
        last = receiver.event_ids()[-1]
        assert first["id"] == receiver.requests[0].envelope["connection_id"]
        assert stuck < last
        assert arrivals[1:] == [stuck] * (len(arrivals) - 2) + [last]
        assert arrivals.count(stuck) >= 2  # retried, and nothing else went out meanwhile

        async def recorded() -> bool:
            items = await deliveries(http, admin, hook["id"])
            return [i["status"] for i in items] == ["delivered", "failed", "delivered"]

        await eventually(recorded, what="the outcomes recorded")
