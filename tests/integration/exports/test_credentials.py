"""An export's broker credentials are stored sealed and shown nowhere (SQLite and
PostgreSQL, the machine's real brokers): the row holds no password and the export
still delivers; a server with another SECRET_KEY says so in the delivery log and
``/readyz`` instead of crashing; rows saved before encryption are sealed at the next
start; the ``webhook.disabled`` event carries the masked URL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, eventually, login, running_server
from tests.integration.api.helpers import API, create_connection
from tests.integration.exports.brokers import free_port
from tests.integration.exports.test_brokers import add_export, consumer, export_deliveries, received
from tests.integration.webhooks.test_delivery import advance_until
from zapgate.config import Settings
from zapgate.util.clock import ManualClock

PASSWORD = "Pa55-zg-7f3a9c1e"
TOKEN = "tok-zg-5d0b8e2a41"
# RabbitMQ here knows only guest/guest, so its password is also its user name: what
# must not be stored is the pair. NATS (no authentication configured) accepts any
# credentials, so its cases use ones found nowhere else.
CASES = [
    (
        "rabbitmq",
        "amqp://guest:guest@127.0.0.1:5672/",
        "guest:guest",
        "amqp://guest:***@127.0.0.1:5672/",
    ),
    (
        "nats",
        f"nats://zapgate:{PASSWORD}@127.0.0.1:4222",
        PASSWORD,
        "nats://zapgate:***@127.0.0.1:4222",
    ),
    ("nats", f"nats://{TOKEN}@127.0.0.1:4222", TOKEN, "nats://***@127.0.0.1:4222"),
]


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def stored_export(server: Server, export_id: str) -> dict[str, Any]:
    """The export's row as the database holds it, read directly."""
    async with server.runtime.db.read() as s:
        row = await s.execute(text("SELECT * FROM webhooks WHERE id = :id"), {"id": export_id})
        return dict(row.mappings().one())


async def everything_stored(server: Server) -> str:
    """Every row of the tables an export's URL could reach, as text."""
    lines: list[str] = []
    async with server.runtime.db.read() as s:
        for table in ("webhooks", "webhook_deliveries", "webhook_attempts", "events"):
            lines += [str(tuple(r)) for r in (await s.execute(text(f"SELECT * FROM {table}")))]
    return "\n".join(lines)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)


async def delivered(server: Server, admin: dict[str, str], export_id: str, count: int) -> None:
    async def done() -> bool:
        items = await export_deliveries(server.http, admin, export_id)
        return len(items) == count and all(i["status"] == "delivered" for i in items)

    await eventually(done, timeout=20, what=f"{count} deliveries recorded as delivered")


@pytest.mark.parametrize(("kind", "url", "password", "shown"), CASES)
async def test_stored_credentials_are_sealed_and_the_export_still_delivers(
    server: Server,
    admin: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    kind: str,
    url: str,
    password: str,
    shown: str,
) -> None:
    http = server.http
    with caplog.at_level(logging.DEBUG):
        async with consumer(kind) as (body, target):
            export_id = await add_export(
                http, admin, url=url, events=["connection.created"], **body
            )
            await create_connection(http, admin, "Shop")
            (message,) = await received(target, 1)
            assert message.envelope["type"] == "connection.created"
            await delivered(server, admin, export_id, 1)
    row = await stored_export(server, export_id)
    assert row["url"] == shown
    assert row["secret"].startswith("v1:")
    assert password not in str(row)
    assert password not in await everything_stored(server)
    answers = [
        await http.get(f"{API}/exports/{export_id}", headers=admin),
        await http.get(f"{API}/exports", headers=admin),
        await http.get(f"{API}/exports/{export_id}/deliveries", headers=admin),
        await http.get("/readyz"),
    ]
    assert answers[0].json()["url"] == shown
    for answer in answers:
        assert password not in answer.text
    assert password not in logged(caplog)


async def test_another_secret_key_is_told_in_the_delivery_log_not_crashed(
    settings_factory: Callable[..., Settings],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"nats://zapgate:{PASSWORD}@127.0.0.1:4222"
    first = settings_factory(webhook_allow_private=True, secret_key="a" * 40)
    other = settings_factory(webhook_allow_private=True, secret_key="b" * 40)
    async with consumer("nats") as (body, target):
        async with running_server(first, clock) as server:
            admin = await login(server.http, ADMIN_EMAIL, ADMIN_PASSWORD)
            export_id = await add_export(
                server.http, admin, url=url, events=["connection.created"], **body
            )
        with caplog.at_level(logging.INFO):
            async with running_server(other, clock) as server:
                http = server.http
                warned = [r for r in caplog.records if "cannot be decrypted" in r.getMessage()]
                assert [getattr(r, "export_ids", None) for r in warned] == [export_id]
                admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
                await create_connection(http, admin, "Shop")

                async def told() -> bool:
                    items = await export_deliveries(http, admin, export_id)
                    return bool(items) and "SECRET_KEY" in (items[0]["last_error"] or "")

                await eventually(told, what="the unreadable credentials in the delivery log")
                (item,) = await export_deliveries(http, admin, export_id)
                assert item["status"] == "pending"
                assert item["last_error"].startswith("SecretUnreadable: ")
                ready = await http.get("/readyz")
                assert ready.status_code == 200
                assert "SECRET_KEY" in ready.json()["details"]["exports"][export_id]
                assert ready.json()["checks"]["webhooks"] == "ok"
                # Saving the URL again seals it under this server's key: the pending
                # delivery goes out at its next retry.
                again = await http.patch(
                    f"{API}/exports/{export_id}", headers=admin, json={"url": url}
                )
                assert again.status_code == 200, again.text

                async def recovered() -> bool:
                    items = await export_deliveries(http, admin, export_id)
                    return [i["status"] for i in items] == ["delivered"]

                await advance_until(clock, recovered, what="the delivery after the URL is saved")
                (message,) = await received(target, 1)
                assert message.envelope["type"] == "connection.created"
                assert "details" not in (await http.get("/readyz")).json()
    assert PASSWORD not in logged(caplog)


async def test_exports_saved_before_encryption_are_sealed_at_the_next_start(
    settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"nats://{TOKEN}@127.0.0.1:4222"
    async with consumer("nats") as (body, target):
        async with running_server(settings, clock) as server:
            admin = await login(server.http, ADMIN_EMAIL, ADMIN_PASSWORD)
            old = await add_export(
                server.http, admin, url=url, events=["connection.created"], **body
            )
            plain = await add_export(
                server.http, admin, url="nats://127.0.0.1:4222", stream="zgtest_plain", kind="nats"
            )
            # What the first release of exports stored: the whole URL, no secret.
            async with server.runtime.db.write() as s:
                await s.execute(
                    text("UPDATE webhooks SET url = :url, secret = '' WHERE id = :id"),
                    {"url": url, "id": old},
                )
        with caplog.at_level(logging.INFO):
            async with running_server(settings, clock) as server:
                row = await stored_export(server, old)
                assert row["url"] == "nats://***@127.0.0.1:4222"
                assert row["secret"].startswith("v1:")
                assert TOKEN not in str(row)
                untouched = await stored_export(server, plain)
                assert (untouched["url"], untouched["secret"]) == ("nats://127.0.0.1:4222", "")
                (note,) = [r for r in caplog.records if "encrypted the stored" in r.getMessage()]
                assert getattr(note, "exports", None) == 1
                admin = await login(server.http, ADMIN_EMAIL, ADMIN_PASSWORD)
                await server.http.delete(f"{API}/exports/{plain}", headers=admin)
                await create_connection(server.http, admin, "Shop")
                await received(target, 1)
                await delivered(server, admin, old, 1)
    assert TOKEN not in logged(caplog)


async def test_the_disabled_event_carries_the_masked_url(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    # Nothing listens on the port: every publish fails, and after 20 failed attempts
    # over the (shortened) disable period the export is disabled.
    url = f"nats://{TOKEN}@127.0.0.1:{free_port()}"
    settings = settings_factory(webhook_allow_private=True, webhook_disable_after_hours=0.01)
    async with running_server(settings, clock) as server:
        http = server.http
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        export_id = await add_export(
            http, admin, kind="nats", url=url, stream="zgtest_never", events=["connection.created"]
        )
        for i in range(5):
            await create_connection(http, admin, f"Shop {i}")

        async def disabled() -> bool:
            shown = await http.get(f"{API}/exports/{export_id}", headers=admin)
            return shown.json()["enabled"] is False

        await advance_until(clock, disabled, what="the export disabled for failing")
        events = await http.get(f"{API}/events?types=webhook.disabled", headers=admin)
        (event,) = events.json()["items"]
        assert event["data"]["id"] == export_id
        assert event["data"]["url"] == url.replace(TOKEN, "***")
        assert TOKEN not in events.text
        assert TOKEN not in await everything_stored(server)
