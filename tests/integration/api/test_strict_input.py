"""Input means what the document says: booleans are JSON booleans, and a documented
``null`` is accepted."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.helpers import API, create_connection


@pytest.mark.parametrize("value", [0, 1, "true", "false", "yes", 0.0])
async def test_booleans_must_be_booleans(
    client: httpx.AsyncClient, admin: dict[str, str], value: object
) -> None:
    created = await client.post(
        f"{API}/connections", headers=admin, json={"name": "Shop", "is_primary": value}
    )
    assert created.status_code == 422, created.text
    error = created.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == ["body", "is_primary"]

    cid = (await create_connection(client, admin, "Other"))["id"]
    updated = await client.patch(
        f"{API}/connections/{cid}", headers=admin, json={"is_primary": value}
    )
    assert updated.status_code == 422, updated.text
    hook = await client.post(
        f"{API}/webhooks",
        headers=admin,
        json={"url": "https://hooks.example.com/x", "enabled": value},
    )
    assert hook.status_code == 422, hook.text
    assert hook.json()["error"]["code"] == "validation_error"
    settings = await client.patch(
        f"{API}/simulator/settings", headers=admin, json={"auto_receipts": value}
    )
    assert settings.status_code == 422, settings.text


async def test_true_and_false_are_taken(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    first = await create_connection(client, admin, "First")
    second = await create_connection(client, admin, "Second", is_primary=True)
    assert second["is_primary"] is True
    assert (await client.get(f"{API}/connections/{first['id']}", headers=admin)).json()[
        "is_primary"
    ] is False
    off = await client.patch(
        f"{API}/connections/{second['id']}", headers=admin, json={"is_primary": False}
    )
    assert off.status_code == 200
    assert off.json()["is_primary"] is False


async def test_simulator_settings_null_puts_the_default_back(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    changed = await client.patch(
        f"{API}/simulator/settings",
        headers=admin,
        json={"auto_receipts": False, "latency_ms": 5, "failure_rate": 0.5},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["auto_receipts"] is False
    back = await client.patch(
        f"{API}/simulator/settings",
        headers=admin,
        json={"auto_receipts": None, "latency_ms": None},
    )
    assert back.status_code == 200, back.text
    body = back.json()
    assert body["auto_receipts"] is True
    assert body["latency_ms"] == 50
    assert body["failure_rate"] == 0.5  # not given: unchanged
