"""Webhook delivery against real HTTP receivers on 127.0.0.1 (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import Server, eventually, login, running_server
from tests.integration.api.helpers import API, create_connection
from tests.integration.servers import Receiver, receiving
from zapgate.config import Settings
from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow
from zapgate.util.clock import ManualClock
from zapgate.webhooks.signing import verify


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def add_webhook(
    http: httpx.AsyncClient, headers: dict[str, str], url: str, **extra: Any
) -> dict[str, Any]:
    response = await http.post(f"{API}/webhooks", headers=headers, json={"url": url, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliveries(
    http: httpx.AsyncClient, headers: dict[str, str], webhook_id: str
) -> list[dict[str, Any]]:
    response = await http.get(f"{API}/webhooks/{webhook_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@dataclass
class Paused:
    """A webhook to a receiver answering 500, paused by its first failed delivery."""

    receiver: Receiver
    server: Server
    headers: dict[str, str]
    hook: dict[str, Any]

    async def deliveries(self) -> list[dict[str, Any]]:
        return await deliveries(self.server.http, self.headers, self.hook["id"])


@asynccontextmanager
async def paused_webhook(
    settings_factory: Callable[..., Settings],
    clock: ManualClock,
    failures: int = 1,
    **settings: Any,
) -> AsyncIterator[Paused]:
    """A webhook paused after ``failures`` deliveries, each failed in turn (one
    connection created at a time); ``settings`` beside (the probe interval, the window)."""
    made = settings_factory(
        webhook_allow_private=True, webhook_pause_after_failures=failures, **settings
    )
    async with receiving(Receiver(status=500)) as receiver, running_server(made, clock) as srv:
        headers = await login(srv.http, "admin@example.com", "admin-password-1")
        hook = await add_webhook(srv.http, headers, receiver.url, events=["connection.created"])
        paused = Paused(receiver, srv, headers, hook)
        for n in range(1, failures + 1):
            await create_connection(srv.http, headers, f"Down {n}")

            async def tried(count: int = n) -> bool:
                items = await paused.deliveries()
                return sum(item["attempts"] for item in items) == count

            await eventually(tried, what=f"attempt {n}, failed")
        yield paused


async def advance_until(
    clock: ManualClock, check: Callable[[], Awaitable[bool]], *, step: float = 30, what: str
) -> None:
    """Move the clock in steps until ``check`` holds (retries wait on the clock)."""

    async def moved() -> bool:
        if await check():
            return True
        await clock.advance(step)
        return await check()

    await eventually(moved, what=what)


async def test_signed_request_with_headers(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    async with receiving(Receiver()) as receiver:
        secret = "my-webhook-secret-0123"
        hook = await add_webhook(
            client, admin, receiver.url, secret=secret, events=["connection.created"]
        )
        assert hook["secret"] == secret
        conn = await create_connection(client, admin, "Signed")

        async def got() -> bool:
            return len(receiver.requests) == 1

        await eventually(got, what="the webhook request")
        request = receiver.requests[0]
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-zapgate-event"] == "connection.created"
        envelope = request.envelope
        assert envelope["type"] == "connection.created"
        assert envelope["connection_id"] == conn["id"]
        assert set(envelope) == {
            "id",
            "type",
            "organization_id",
            "connection_id",
            "created_at",
            "data",
        }
        now = int(clock.now().timestamp())
        signature = request.headers["x-zapgate-signature"]
        assert signature.startswith(f"t={now},v1=")
        assert verify(secret, signature, request.body, now=now)
        assert not verify("another-secret-0123456", signature, request.body, now=now)
        assert not verify(secret, signature, request.body + b" ", now=now)
        assert not verify(secret, signature, request.body, now=now + 3600)  # replayed later

        async def recorded() -> bool:
            items = await deliveries(client, admin, hook["id"])
            return items[0]["status"] == "delivered"

        await eventually(recorded, what="the delivery recorded")
        (delivery,) = await deliveries(client, admin, hook["id"])
        assert request.headers["x-zapgate-delivery"] == delivery["id"]
        assert delivery["last_status_code"] == 200
        assert delivery["response_excerpt"] == "thanks"
        assert delivery["last_duration_ms"] is not None
        # The secret is shown once, never again.
        again = (await client.get(f"{API}/webhooks/{hook['id']}", headers=admin)).json()
        assert "secret" not in again
        listed = (await client.get(f"{API}/webhooks", headers=admin)).json()["items"]
        assert [item["id"] for item in listed] == [hook["id"]]
        assert all("secret" not in item for item in listed)


async def test_an_answer_holding_nul_characters_is_recorded_without_them(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # The receiver's answer is stored as the excerpt; PostgreSQL cannot store a NUL, and
    # the outcome (and the streak with it) could not be recorded.
    async with receiving(Receiver(answer=b"\x00ok\x00\x00done")) as receiver:
        hook = await add_webhook(client, admin, receiver.url, events=["connection.created"])
        await create_connection(client, admin, "Nul")

        async def recorded() -> bool:
            items = await deliveries(client, admin, hook["id"])
            return bool(items) and items[0]["status"] == "delivered"

        await eventually(recorded, what="the delivery recorded")
        (delivery,) = await deliveries(client, admin, hook["id"])
        assert delivery["response_excerpt"] == "okdone"


async def test_receiver_failing_three_times_gets_the_event_once_it_recovers(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    async with receiving(Receiver(fail_next=3)) as receiver:
        hook = await add_webhook(client, admin, receiver.url)
        await create_connection(client, admin, "Flaky")

        async def delivered() -> bool:
            items = await deliveries(client, admin, hook["id"])
            return bool(items) and items[0]["status"] == "delivered"

        await advance_until(clock, delivered, what="delivery after three failures")
        assert len(receiver.requests) == 4
        assert len(receiver.event_ids()) == 1  # one success, no duplicate
        (item,) = await deliveries(client, admin, hook["id"])
        detail = (
            await client.get(f"{API}/webhooks/{hook['id']}/deliveries/{item['id']}", headers=admin)
        ).json()
        assert [a["status_code"] for a in detail["attempt_log"]] == [503, 503, 503, 200]
        assert detail["attempts"] == 4
        assert detail["attempt_log"][0]["response_excerpt"] == "nope"
        # Retries were spaced by a growing backoff, not hammered.
        times = [a["attempted_at"] for a in detail["attempt_log"]]
        assert times == sorted(times)
        assert len(set(times)) == 4
        hook_now = (await client.get(f"{API}/webhooks/{hook['id']}", headers=admin)).json()
        assert hook_now["failure_streak"] == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_receiver_down_across_a_restart_gets_every_event(
    settings: Settings, clock: ManualClock
) -> None:
    receiver = Receiver(port=_free_port())  # nothing listens there yet
    async with running_server(settings, clock) as first:
        headers = await login(first.http, "admin@example.com", "admin-password-1")
        hook = await add_webhook(first.http, headers, receiver.url)
        for i in range(3):
            await create_connection(first.http, headers, f"Shop {i}")

        async def all_tried() -> bool:
            items = await deliveries(first.http, headers, hook["id"])
            return len(items) == 3 and all(i["attempts"] >= 1 for i in items)

        await eventually(all_tried, what="first attempts against the dead receiver")
        items = await deliveries(first.http, headers, hook["id"])
        assert all(i["status"] == "pending" and i["last_error"] for i in items)
        expected = sorted(i["event_id"] for i in items)

    async with receiving(receiver), running_server(settings, clock) as second:

        async def all_received() -> bool:
            return sorted(receiver.event_ids()) == expected

        await advance_until(clock, all_received, what="every event after the restart")
        headers = await login(second.http, "admin@example.com", "admin-password-1")

        # Outcomes are recorded a moment after the receiver has them (in small groups).
        async def all_recorded() -> bool:
            items = await deliveries(second.http, headers, hook["id"])
            return all(i["status"] == "delivered" for i in items)

        await eventually(all_recorded, what="every delivery recorded as delivered")


async def test_slow_receiver_does_not_delay_a_fast_one(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    gate = asyncio.Event()
    async with receiving(Receiver()) as fast, receiving(Receiver(gate=gate)) as slow:
        await add_webhook(client, admin, slow.url)
        await add_webhook(client, admin, fast.url)
        for i in range(5):
            await create_connection(client, admin, f"Shop {i}")

        async def fast_has_all() -> bool:
            return len(fast.event_ids()) == 5

        await eventually(fast_has_all, what="the fast receiver")
        assert slow.requests == []  # every request to the slow one is still hanging
        gate.set()

        async def slow_has_all() -> bool:
            return sorted(slow.event_ids()) == sorted(fast.event_ids())

        await eventually(slow_has_all, what="the slow receiver once released")


async def test_long_failure_streak_disables_the_webhook(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    settings = settings_factory(webhook_allow_private=True, webhook_disable_after_hours=1)
    async with receiving(Receiver(status=500)) as receiver, running_server(settings, clock) as srv:
        headers = await login(srv.http, "admin@example.com", "admin-password-1")
        hook = await add_webhook(srv.http, headers, receiver.url, events=["connection.created"])
        for i in range(20):
            await create_connection(srv.http, headers, f"Shop {i}")

        async def disabled() -> bool:
            body = (await srv.http.get(f"{API}/webhooks/{hook['id']}", headers=headers)).json()
            return body["enabled"] is False

        await advance_until(clock, disabled, step=300, what="automatic disabling")
        body = (await srv.http.get(f"{API}/webhooks/{hook['id']}", headers=headers)).json()
        assert body["disabled_reason"]
        assert "failed attempts in a row" in body["disabled_reason"]
        events = (
            await srv.http.get(f"{API}/events?types=webhook.disabled", headers=headers)
        ).json()["items"]
        assert [e["data"]["id"] for e in events] == [hook["id"]]
        item = (await deliveries(srv.http, headers, hook["id"]))[0]
        refused = await srv.http.post(
            f"{API}/webhooks/{hook['id']}/deliveries/{item['id']}/redeliver", headers=headers
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "webhook_disabled"
        receiver.status = 200
        enabled = await srv.http.patch(
            f"{API}/webhooks/{hook['id']}", headers=headers, json={"enabled": True}
        )
        assert enabled.json()["disabled_reason"] is None
        assert enabled.json()["failure_streak"] == 0

        async def all_delivered() -> bool:
            return len(set(receiver.event_ids())) == 20

        await advance_until(clock, all_delivered, step=600, what="delivery after re-enabling")


async def test_manual_redelivery(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    async with receiving(Receiver()) as receiver:
        hook = await add_webhook(client, admin, receiver.url)
        await create_connection(client, admin, "Again")

        async def one() -> bool:
            return len(receiver.event_ids()) == 1

        await eventually(one, what="first delivery")

        async def recorded() -> bool:
            items = await deliveries(client, admin, hook["id"])
            return items[0]["status"] == "delivered"

        await eventually(recorded, what="first delivery recorded")
        (item,) = await deliveries(client, admin, hook["id"])
        response = await client.post(
            f"{API}/webhooks/{hook['id']}/deliveries/{item['id']}/redeliver", headers=admin
        )
        assert response.status_code == 202, response.text

        async def two() -> bool:
            return len(receiver.event_ids()) == 2

        await eventually(two, what="redelivery")
        first, second = receiver.requests
        assert first.headers["x-zapgate-delivery"] == second.headers["x-zapgate-delivery"]
        assert first.body == second.body
        missing = await client.post(
            f"{API}/webhooks/{hook['id']}/deliveries/00000000-0000-7000-8000-000000000000/redeliver",
            headers=admin,
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "delivery_not_found"


async def test_redelivery_asked_while_the_request_is_in_flight_sends_again(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    gate = asyncio.Event()
    async with receiving(Receiver(gate=gate)) as receiver:
        hook = await add_webhook(client, admin, receiver.url)
        await create_connection(client, admin, "Busy")

        async def in_flight() -> bool:
            return receiver.arrived == 1

        await eventually(in_flight, what="the first request held by the receiver")
        (item,) = await deliveries(client, admin, hook["id"])
        await clock.advance(1)  # redelivery makes it due "now": a later time than its claim
        response = await client.post(
            f"{API}/webhooks/{hook['id']}/deliveries/{item['id']}/redeliver", headers=admin
        )
        assert response.status_code == 202, response.text
        gate.set()

        # The answer to the first request does not settle the delivery asked again.
        async def sent_twice() -> bool:
            return len(receiver.event_ids()) == 2

        await eventually(sent_twice, what="the redelivery after the request in flight")

        async def recorded() -> bool:
            (again,) = await deliveries(client, admin, hook["id"])
            return bool(again["status"] == "delivered" and again["attempts"] == 2)

        await eventually(recorded, what="both attempts recorded")


async def test_filters_by_type_and_connection(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async with receiving(Receiver()) as receiver:
        first = await create_connection(client, admin, "One")
        await create_connection(client, admin, "Two")
        await add_webhook(
            client, admin, receiver.url, events=["connection.updated"], connection_id=first["id"]
        )
        for conn_name in ("One", "Two"):
            conns = (await client.get(f"{API}/connections?q={conn_name}", headers=admin)).json()
            cid = conns["items"][0]["id"]
            await client.patch(f"{API}/connections/{cid}", headers=admin, json={"label": "x"})
        await create_connection(client, admin, "Three")

        async def got() -> bool:
            return len(receiver.requests) >= 1

        await eventually(got, what="the filtered event")
        (request,) = receiver.requests
        assert request.envelope["type"] == "connection.updated"
        assert request.envelope["connection_id"] == first["id"]


async def test_a_receiver_failing_every_attempt_is_paused_then_resumed_by_one_probe(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    # The third failure in a row pauses.
    async with paused_webhook(
        settings_factory, clock, failures=3, webhook_probe_seconds=60
    ) as paused:
        srv, headers, hook, receiver = paused.server, paused.headers, paused.hook, paused.receiver
        for i in range(9):  # while paused: not sent
            await create_connection(srv.http, headers, f"Later {i}")
        items = await deliveries(srv.http, headers, hook["id"])
        newest = max(i["event_id"] for i in items)
        assert len(items) == 12

        # Past every retry's backoff (10 s +-25 %) and the probe's time: one request,
        # the newest delivery due, where unpaused all 12 would have gone.
        await clock.advance(61)

        async def probed() -> bool:
            items = await deliveries(srv.http, headers, hook["id"])
            return sum(i["attempts"] for i in items) == 4

        await eventually(probed, what="one probe recorded")
        assert receiver.arrived == 4
        assert receiver.requests[-1].envelope["id"] == newest
        items = await deliveries(srv.http, headers, hook["id"])
        assert all(i["status"] == "pending" for i in items)

        receiver.status = 200
        await clock.advance(61)

        async def all_delivered() -> bool:
            items = await deliveries(srv.http, headers, hook["id"])
            return len(items) == 12 and all(i["status"] == "delivered" for i in items)

        await eventually(all_delivered, what="everything once the probe succeeds")
        assert sorted(set(receiver.event_ids())) == sorted(
            i["event_id"] for i in await deliveries(srv.http, headers, hook["id"])
        )


async def test_saving_a_paused_webhook_tries_it_at_once(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    # The second failure in a row pauses.
    async with paused_webhook(
        settings_factory, clock, failures=2, webhook_probe_seconds=3600
    ) as paused:
        srv, headers, hook, receiver = paused.server, paused.headers, paused.hook, paused.receiver
        receiver.status = 200
        await create_connection(srv.http, headers, "While paused")
        await clock.advance(20)  # the retries are due; the probe is an hour away
        items = await deliveries(srv.http, headers, hook["id"])
        assert receiver.arrived == 2
        assert len(items) == 3
        assert all(i["status"] == "pending" for i in items)

        saved = await srv.http.patch(
            f"{API}/webhooks/{hook['id']}", headers=headers, json={"url": receiver.url}
        )
        assert saved.status_code == 200, saved.text

        async def all_delivered() -> bool:
            items = await deliveries(srv.http, headers, hook["id"])
            return all(i["status"] == "delivered" for i in items)

        await eventually(all_delivered, what="every delivery once the webhook is saved")


async def test_a_test_event_to_a_paused_webhook_goes_at_once(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    async with paused_webhook(settings_factory, clock, webhook_probe_seconds=3600) as paused:
        srv, headers, hook, receiver = paused.server, paused.headers, paused.hook, paused.receiver
        receiver.status = 200  # the receiver is fixed; the probe is an hour away
        sent = await srv.http.post(f"{API}/webhooks/{hook['id']}/test", headers=headers)
        assert sent.status_code == 202, sent.text

        async def test_delivered() -> bool:
            items = await deliveries(srv.http, headers, hook["id"])
            return [i["status"] for i in items if i["event_type"] == "webhook.test"] == [
                "delivered"
            ]

        await eventually(test_delivered, what="the test, with the clock still")

        async def all_delivered() -> bool:
            items = await deliveries(srv.http, headers, hook["id"])
            return len(items) == 2 and all(i["status"] == "delivered" for i in items)

        # The test was the probe; its success ends the pause: the retry (10 s) goes.
        await advance_until(clock, all_delivered, step=15, what="the retry after the test")
        assert receiver.requests[0].envelope["type"] == "connection.created"
        assert receiver.requests[1].envelope["type"] == "webhook.test"


async def test_a_webhook_enabled_again_does_not_resend_what_is_still_in_flight(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    gate = asyncio.Event()
    async with receiving(Receiver(gate=gate)) as receiver:
        hook = await add_webhook(client, admin, receiver.url, events=["connection.created"])
        await create_connection(client, admin, "In flight")

        async def hanging() -> bool:
            return receiver.arrived == 1

        await eventually(hanging, what="the first request, held by the receiver")
        for enabled in (False, True):
            changed = await client.patch(
                f"{API}/webhooks/{hook['id']}", headers=admin, json={"enabled": enabled}
            )
            assert changed.status_code == 200, changed.text
        # The worker enabled again would claim that row (still pending) at once.
        await create_connection(client, admin, "After")
        gate.set()

        async def both_delivered() -> bool:
            items = await deliveries(client, admin, hook["id"])
            return len(items) == 2 and all(i["status"] == "delivered" for i in items)

        await eventually(both_delivered, what="both deliveries")
        ids = receiver.event_ids()
        assert len(ids) == len(set(ids)) == 2, ids


async def test_a_restarted_server_goes_on_probing_a_webhook_that_kept_failing(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    settings = settings_factory(webhook_allow_private=True, webhook_probe_seconds=3600)
    async with receiving(Receiver(status=500)) as receiver:
        async with running_server(settings, clock) as first:
            headers = await login(first.http, "admin@example.com", "admin-password-1")
            hook = await add_webhook(
                first.http, headers, receiver.url, events=["connection.created"]
            )
            # The streak the outcome recorder keeps on the webhook, past the pause's 32.
            async with first.runtime.db.write() as s:
                await s.execute(
                    update(WebhookRow)
                    .where(WebhookRow.id == hook["id"])
                    .values(failure_streak=50, failing_since=clock.now())
                )
        async with running_server(settings, clock) as second:
            headers = await login(second.http, "admin@example.com", "admin-password-1")
            for i in range(5):
                await create_connection(second.http, headers, f"After restart {i}")

            async def probed() -> bool:
                items = await deliveries(second.http, headers, hook["id"])
                return sum(i["attempts"] for i in items) >= 1

            await eventually(probed, what="the first probe after the restart")
            # One probe, not a request per delivery: the next is an hour away.
            assert receiver.arrived == 1


async def test_deliveries_whose_event_is_gone_do_not_pause_a_webhook(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    settings = settings_factory(
        webhook_allow_private=True, webhook_pause_after_failures=2, webhook_probe_seconds=3600
    )
    async with receiving(Receiver()) as receiver, running_server(settings, clock) as srv:
        headers = await login(srv.http, "admin@example.com", "admin-password-1")
        hook = await add_webhook(srv.http, headers, receiver.url, events=["connection.created"])
        await srv.http.patch(
            f"{API}/webhooks/{hook['id']}", headers=headers, json={"enabled": False}
        )
        # Deliveries whose events retention removed (ids no event has).
        async with srv.runtime.db.write() as s:
            row = await s.get(WebhookRow, hook["id"])
            assert row is not None
            org = row.organization_id
            for n in range(3):
                s.add(
                    WebhookDeliveryRow(
                        id=f"gone-{n}",
                        webhook_id=hook["id"],
                        organization_id=org,
                        event_id=10_000_000 + n,
                        event_type="connection.created",
                        status="pending",
                        attempts=0,
                        next_attempt_at=clock.now(),
                        created_at=clock.now(),
                    )
                )
        await srv.http.patch(
            f"{API}/webhooks/{hook['id']}", headers=headers, json={"enabled": True}
        )

        async def gone_failed() -> bool:
            items = await deliveries(srv.http, headers, hook["id"])
            return len(items) == 3 and all(i["status"] == "failed" for i in items)

        await eventually(gone_failed, what="the deliveries of gone events failed")
        await create_connection(srv.http, headers, "Live")

        async def live_delivered() -> bool:
            return len(receiver.event_ids()) == 1

        await eventually(live_delivered, what="the live delivery, not paused")


async def test_a_paused_webhook_fails_what_outlived_the_retry_window_untried(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    # A window of 36 s.
    async with paused_webhook(
        settings_factory, clock, webhook_probe_seconds=60, webhook_retry_hours=0.01
    ) as paused:
        srv, headers, hook, receiver = paused.server, paused.headers, paused.hook, paused.receiver
        await create_connection(srv.http, headers, "Second")  # waits, untried
        await clock.advance(61)  # past the window (36 s) and at the probe's time

        async def all_failed() -> bool:
            items = await deliveries(srv.http, headers, hook["id"])
            return len(items) == 2 and all(i["status"] == "failed" for i in items)

        await eventually(all_failed, what="both deliveries failed")
        assert receiver.arrived == 1
        items = await deliveries(srv.http, headers, hook["id"])
        untried = next(i for i in items if i["attempts"] == 0)
        assert "retry window" in untried["last_error"]


async def test_a_redelivery_on_a_paused_webhook_is_tried_even_past_the_window(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    # A window of 36 s.
    async with paused_webhook(
        settings_factory, clock, webhook_probe_seconds=3600, webhook_retry_hours=0.01
    ) as paused:
        srv, headers, hook, receiver = paused.server, paused.headers, paused.hook, paused.receiver
        await clock.advance(40)  # past the retry window; the probe is an hour away
        (item,) = await deliveries(srv.http, headers, hook["id"])
        asked = await srv.http.post(
            f"{API}/webhooks/{hook['id']}/deliveries/{item['id']}/redeliver", headers=headers
        )
        assert asked.status_code == 202, asked.text

        async def tried_again() -> bool:
            items = await deliveries(srv.http, headers, hook["id"])
            return items[0]["attempts"] == 2

        await eventually(tried_again, what="the redelivery tried, not failed untried")
        assert receiver.arrived == 2


async def test_nothing_is_claimed_while_the_node_is_unsure_it_leads(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    """In a cluster the dispatcher asks the leadership before each claim
    (``Leadership.current``): a leader waking from a pause longer than its lock's
    silence sends nothing new before it has stepped down or pinged again."""
    leading = False
    asked: list[bool] = []

    def may_claim() -> bool:
        asked.append(leading)
        return leading

    server.runtime.webhook_dispatcher.may_claim = may_claim
    async with receiving(Receiver()) as receiver:
        hook = await add_webhook(server.http, admin, receiver.url, events=["connection.created"])
        await create_connection(server.http, admin, "Waiting")

        async def pending() -> bool:
            items = await deliveries(server.http, admin, hook["id"])
            return len(items) == 1 and items[0]["status"] == "pending"

        await eventually(pending, what="the delivery queued")
        await clock.advance(5)  # ten rechecks, each answered no
        assert await pending()
        assert receiver.requests == []
        assert len(asked) >= 10
        assert not any(asked)

        leading = True
        await clock.advance(0.5)

        async def sent() -> bool:
            return len(receiver.requests) == 1

        await eventually(sent, what="the delivery sent once the node leads")
