"""``/api/v1/exports``: the resource, its validation and its tenancy (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.integration.api.helpers import API
from zapgate.config import Settings


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def test_an_export_never_answers_its_password(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post(
        f"{API}/exports",
        headers=admin,
        json={"kind": "rabbitmq", "url": "amqp://guest:guest@127.0.0.1:5672/", "exchange": "ev"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["url"] == "amqp://guest:***@127.0.0.1:5672/"
    assert body["subject_prefix"] == "zapgate"
    assert body["events"] == ["*"]
    path = f"{API}/exports/{body['id']}"
    for answer in [
        await client.get(path, headers=admin),
        await client.get(f"{API}/exports", headers=admin),
        await client.patch(path, headers=admin, json={"subject_prefix": "acme.events"}),
    ]:
        assert answer.status_code == 200, answer.text
        assert "guest:guest" not in answer.text
    assert (await client.get(path, headers=admin)).json()["subject_prefix"] == "acme.events"
    # An export is not a webhook, and the other way round.
    assert (await client.get(f"{API}/webhooks", headers=admin)).json()["items"] == []
    missing = await client.get(f"{API}/webhooks/{body['id']}", headers=admin)
    assert missing.json()["error"]["code"] == "webhook_not_found"
    assert (await client.delete(path, headers=admin)).status_code == 204
    gone = await client.get(path, headers=admin)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "export_not_found"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "rabbitmq", "url": "amqp://127.0.0.1/"}, "exchange_required"),
        ({"kind": "nats", "url": "nats://127.0.0.1"}, "stream_required"),
        ({"kind": "nats", "url": "nats://127.0.0.1", "stream": "a.b"}, "invalid_stream"),
        ({"kind": "nats", "url": "amqp://127.0.0.1", "stream": "s"}, "invalid_url"),
        (
            {"kind": "nats", "url": "nats://127.0.0.1", "stream": "s", "subject_prefix": "a.>"},
            "invalid_subject_prefix",
        ),
        ({"kind": "kafka", "url": "nats://127.0.0.1"}, "validation_error"),
        (
            {"kind": "nats", "url": "nats://127.0.0.1", "stream": "s", "enabled": "yes"},
            "validation_error",
        ),
    ],
)
async def test_bad_exports_are_refused_with_a_code(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, object], code: str
) -> None:
    answer = await client.post(f"{API}/exports", headers=admin, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == code


async def test_private_brokers_need_the_operator_switch(
    settings_factory: Callable[..., Settings], clock: object
) -> None:
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, running_server
    from zapgate.util.clock import ManualClock

    assert isinstance(clock, ManualClock)
    async with running_server(settings_factory(), clock) as server:
        admin = await login(server.http, ADMIN_EMAIL, ADMIN_PASSWORD)
        answer = await server.http.post(
            f"{API}/exports",
            headers=admin,
            json={"kind": "nats", "url": "nats://127.0.0.1:4222", "stream": "s"},
        )
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "url_not_allowed"
