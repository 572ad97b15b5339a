"""Exports end to end with the machine's real RabbitMQ and NATS JetStream (SQLite and
PostgreSQL): simulator events reach a consumer in order; a broker unreachable across a
server restart loses nothing; a broker refusing the export is told in the delivery log
and in ``/readyz``, and nothing crashes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, eventually, login, running_server
from tests.integration.api.helpers import API, create_connection, link
from tests.integration.exports.brokers import (
    NATS_URL,
    RABBITMQ_URL,
    Consumed,
    nats_consumer,
    proxy,
    rabbit_consumer,
)
from tests.integration.webhooks.test_delivery import advance_until
from zapgate.config import Settings
from zapgate.util.clock import ManualClock

CUSTOMER = "5511988887777"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


@asynccontextmanager
async def consumer(kind: str) -> AsyncIterator[tuple[dict[str, Any], Any]]:
    """An export body for ``kind`` (URL left out) and its consumer."""
    if kind == "rabbitmq":
        async with rabbit_consumer() as rabbit:
            yield {"kind": "rabbitmq", "exchange": rabbit.exchange}, rabbit
    else:
        async with nats_consumer() as stream:
            yield {"kind": "nats", "stream": stream.stream, "subject_prefix": stream.prefix}, stream


async def add_export(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> str:
    answer = await http.post(f"{API}/exports", headers=headers, json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def export_deliveries(
    http: httpx.AsyncClient, headers: dict[str, str], export_id: str
) -> list[dict[str, Any]]:
    answer = await http.get(f"{API}/exports/{export_id}/deliveries?limit=200", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def received(target: Any, count: int) -> list[Consumed]:
    found: list[Consumed] = []

    async def enough() -> bool:
        nonlocal found
        found = await target.all()
        return len({m.message_id for m in found}) >= count

    await eventually(enough, timeout=20, what=f"{count} messages at the consumer")
    return found


@pytest.mark.parametrize("kind", ["rabbitmq", "nats"])
async def test_simulator_events_reach_the_consumer_in_order(
    server: Any, admin: dict[str, str], clock: ManualClock, kind: str
) -> None:
    http = server.http
    org = (await http.get(f"{API}/me", headers=admin)).json()["organization"]["id"]
    a = (await create_connection(http, admin, "A"))["id"]
    b = (await create_connection(http, admin, "B"))["id"]
    await link(http, admin, a, clock, phone="5511999990001")
    await link(http, admin, b, clock, phone="5511999990002")
    url = RABBITMQ_URL if kind == "rabbitmq" else NATS_URL
    async with consumer(kind) as (body, target):
        await add_export(http, admin, url=url, events=["message.received"], **body)
        for i in range(10):
            cid = a if i % 2 == 0 else b
            answer = await http.post(
                f"{API}/simulator/connections/{cid}/incoming",
                headers=admin,
                json={"from": CUSTOMER, "text": f"hello {i}"},
            )
            assert answer.status_code == 200, answer.text
        messages = await received(target, 10)
    envelopes = [m.envelope for m in messages]
    # Each connection's messages in the order they came; the two connections' events
    # interleave as their transactions committed (event id order).
    for cid, first in ((a, 0), (b, 1)):
        texts = [e["data"]["text"] for e in envelopes if e["connection_id"] == cid]
        assert texts == [f"hello {i}" for i in range(first, 10, 2)]
    ids = [e["id"] for e in envelopes]
    assert ids == sorted(ids)
    prefix = body.get("subject_prefix", "zapgate")
    export_id = (await http.get(f"{API}/exports", headers=admin)).json()["items"][0]["id"]
    deliveries = {d["event_id"]: d["id"] for d in await export_deliveries(http, admin, export_id)}
    for m, e in zip(messages, envelopes, strict=True):
        assert m.message_id == str(e["id"])
        assert m.key == f"{prefix}.{org}.{e['connection_id']}.message.received"
        assert m.event_type == "message.received"
        assert m.delivery_id == deliveries[e["id"]]
        assert (m.persistent, m.content_type) == (True, "application/json")
    assert {e["connection_id"] for e in envelopes} == {a, b}


@pytest.mark.parametrize(("kind", "port"), [("rabbitmq", 5672), ("nats", 4222)])
async def test_broker_down_across_a_restart_loses_nothing(
    settings: Settings, clock: ManualClock, kind: str, port: int
) -> None:
    scheme = "amqp://guest:guest@" if kind == "rabbitmq" else "nats://"
    async with consumer(kind) as (body, target), proxy(port) as broker:
        url = f"{scheme}127.0.0.1:{broker.port}" + ("/" if kind == "rabbitmq" else "")
        async with running_server(settings, clock) as server:
            admin = await login(server.http, ADMIN_EMAIL, ADMIN_PASSWORD)
            export_id = await add_export(
                server.http, admin, url=url, events=["connection.created"], **body
            )
            await create_connection(server.http, admin, "Shop 0")
            await received(target, 1)
            await broker.stop()
            for i in range(1, 4):
                await create_connection(server.http, admin, f"Shop {i}")

            async def failing() -> bool:
                items = await export_deliveries(server.http, admin, export_id)
                return any(i["attempts"] and i["status"] == "pending" for i in items)

            await eventually(failing, what="a failed publish")
            items = await export_deliveries(server.http, admin, export_id)
            errors = [i["last_error"] for i in items if i["last_error"]]
            assert errors
            assert all("onnect" in e for e in errors), errors  # "Connect call failed", "connection"
            ready = (await server.http.get("/readyz")).json()
            assert export_id in ready["details"]["exports"]
        # The server went down with publishes pending; more events while it is down.
        async with running_server(settings, clock) as server:
            admin = await login(server.http, ADMIN_EMAIL, ADMIN_PASSWORD)
            for i in range(4, 6):
                await create_connection(server.http, admin, f"Shop {i}")
            await broker.start()

            async def all_delivered() -> bool:
                items = await export_deliveries(server.http, admin, export_id)
                return len(items) == 6 and all(i["status"] == "delivered" for i in items)

            await advance_until(clock, all_delivered, what="every event after the broker is back")
            messages = await received(target, 6)
            assert "details" not in (await server.http.get("/readyz")).json()
    first_seen: list[int] = []
    for m in messages:
        event_id = m.envelope["id"]
        if event_id not in first_seen:
            first_seen.append(event_id)
    assert len(first_seen) == 6
    assert first_seen == sorted(first_seen)


@pytest.mark.parametrize(
    ("url", "exchange", "words"),
    [
        ("amqp://guest:wrong@127.0.0.1:5672/", None, "ACCESS_REFUSED"),
        (RABBITMQ_URL, "zgtest_no_such_exchange", "NOT_FOUND - no exchange"),
    ],
)
async def test_a_broker_refusing_the_export_is_told_not_crashed(
    server: Any, admin: dict[str, str], url: str, exchange: str | None, words: str
) -> None:
    http = server.http
    async with rabbit_consumer() as rabbit:
        export_id = await add_export(
            http,
            admin,
            kind="rabbitmq",
            url=url,
            exchange=exchange or rabbit.exchange,
            events=["connection.created"],
        )
        await create_connection(http, admin, "Shop")

        async def logged() -> bool:
            items = await export_deliveries(http, admin, export_id)
            return bool(items) and words in (items[0]["last_error"] or "")

        await eventually(logged, what="the broker's refusal in the delivery log")
        ready = await http.get("/readyz")
        assert ready.status_code == 200  # one export's broker does not make the server unready
        assert words in ready.json()["details"]["exports"][export_id]
        assert ready.json()["checks"]["webhooks"] == "ok"
        shown = (await http.get(f"{API}/exports/{export_id}", headers=admin)).json()
        assert shown["url"].split("@")[0].endswith(":***")
