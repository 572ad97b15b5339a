"""Webhook CRUD and bad input, the pulled event log, /metrics and /readyz."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import login
from tests.integration.api.helpers import API, create_connection
from zapgate.services.metrics import REFRESH_INTERVAL
from zapgate.store.pagination import encode_cursor
from zapgate.util.clock import ManualClock


async def _other_org(http: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    org = (await http.post(f"{API}/organizations", headers=admin, json={"name": "Other"})).json()
    await http.post(
        f"{API}/organizations/{org['id']}/users",
        headers=admin,
        json={"email": "owner@other.test", "password": "owner-pass-1", "role": "owner"},
    )
    return await login(http, "owner@other.test", "owner-pass-1")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://example.com/hook"}, "invalid_url"),
        ({"url": "example.com/hook"}, "invalid_url"),
        ({"url": "http://user:pw@example.com/"}, "invalid_url"),
        ({"url": "http://127.0.0.1:8080/hook"}, "url_not_allowed"),
        ({"url": "http://localhost/hook"}, "url_not_allowed"),
        ({"url": "http://10.1.2.3/hook"}, "url_not_allowed"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url_not_allowed"),
        ({"url": "http://[::1]/hook"}, "url_not_allowed"),
        ({"url": "https://93.184.215.14/hook", "events": ["message.nope"]}, "unknown_event_type"),
        ({"url": "https://93.184.215.14/hook", "secret": "too-short"}, "invalid_secret"),
    ],
)
async def test_bad_webhooks_are_422(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], code: str
) -> None:
    response = await client.post(f"{API}/webhooks", headers=admin, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_webhook_crud_and_tenancy(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    conn = await create_connection(client, admin, "Shop")
    created = await client.post(
        f"{API}/webhooks",
        headers=admin,
        json={
            "url": "https://93.184.215.14/hook",
            "events": ["message.received", "connection.status,message.status"],
            "connection_id": conn["id"],
            "description": "CRM",
        },
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert len(hook["secret"]) >= 32
    assert hook["events"] == ["message.received", "connection.status", "message.status"]
    assert hook["enabled"] is True
    patched = await client.patch(
        f"{API}/webhooks/{hook['id']}",
        headers=admin,
        json={"events": ["*"], "connection_id": None, "enabled": False, "secret": "x" * 16},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["*"]
    assert patched.json()["connection_id"] is None
    assert "secret" not in patched.json()
    bad = await client.patch(
        f"{API}/webhooks/{hook['id']}", headers=admin, json={"events": ["nope.nope"]}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_event_type"
    other = await _other_org(client, admin)
    for method, path in [
        ("GET", f"/webhooks/{hook['id']}"),
        ("PATCH", f"/webhooks/{hook['id']}"),
        ("DELETE", f"/webhooks/{hook['id']}"),
        ("GET", f"/webhooks/{hook['id']}/deliveries"),
    ]:
        response = await client.request(method, f"{API}{path}", headers=other, json={})
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "webhook_not_found", (method, path)
    assert (await client.get(f"{API}/webhooks", headers=other)).json()["items"] == []
    foreign = await client.post(
        f"{API}/webhooks",
        headers=other,
        json={"url": "https://93.184.215.14/h", "connection_id": conn["id"]},
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "connection_not_found"
    deleted = await client.delete(f"{API}/webhooks/{hook['id']}", headers=admin)
    assert deleted.status_code == 204
    gone = await client.get(f"{API}/webhooks/{hook['id']}", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "webhook_not_found"


async def test_event_log_pagination_filters_and_tenancy(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    conns = [await create_connection(client, admin, f"Shop {i}") for i in range(5)]
    await client.patch(f"{API}/connections/{conns[0]['id']}", headers=admin, json={"label": "x"})
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{API}/events", headers=admin, params=params)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 6
    since = (await client.get(f"{API}/events?since={seen[2]}", headers=admin)).json()
    assert [e["id"] for e in since["items"]] == seen[3:]
    assert since["last_id"] == seen[-1]
    updated = (await client.get(f"{API}/events?types=connection.updated", headers=admin)).json()
    assert [e["connection_id"] for e in updated["items"]] == [conns[0]["id"]]
    one = (await client.get(f"{API}/events?connection_id={conns[1]['id']}", headers=admin)).json()
    assert [e["type"] for e in one["items"]] == ["connection.created"]
    bad = await client.get(f"{API}/events?types=nope", headers=admin)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_event_type"
    garbled = await client.get(f"{API}/events?cursor=%%%", headers=admin)
    assert garbled.status_code == 422
    assert garbled.json()["error"]["code"] == "invalid_cursor"
    # Ids beyond what a database column holds are bad input, not a server error.
    top = 2**63 - 1
    assert (await client.get(f"{API}/events?since={top}", headers=admin)).json()["items"] == []
    for query, code in (
        (f"since={top + 1}", "validation_error"),
        (f"since={10**30}", "validation_error"),
        (f"cursor={encode_cursor(top + 1)}", "invalid_cursor"),
    ):
        response = await client.get(f"{API}/events?{query}", headers=admin)
        assert response.status_code == 422, (query, response.text)
        assert response.json()["error"]["code"] == code, (query, response.text)
    for raw in ("WzFlOTk5XQ", "W05hTl0", "W3RydWVd"):  # [1e999], [NaN], [true]
        response = await client.get(f"{API}/events?cursor={raw}", headers=admin)
        assert response.json()["error"]["code"] == "invalid_cursor", raw
    other = await _other_org(client, admin)
    assert (await client.get(f"{API}/events", headers=other)).json()["items"] == []


async def test_metrics_and_readiness(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await create_connection(client, admin, "Shop")
    await client.post(f"{API}/webhooks", headers=admin, json={"url": "https://93.184.215.14/h"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        'zapgate_connections{state="idle"} 1.0',
        'zapgate_messages{kind="sent"}',
        "zapgate_outbox_depth",
        "zapgate_outbox_oldest_age_seconds",
        "zapgate_webhook_deliveries",
        "zapgate_webhook_pending_oldest_age_seconds",
        "zapgate_webhook_workers 1.0",
        "zapgate_engine_worker_restarts",
        'zapgate_event_log_last_id{source="database"}',
        "zapgate_event_log_lag 0.0",
        "zapgate_event_streams 0.0",
    ):
        assert name in text, name
    ready = (await client.get("/readyz")).json()
    assert ready["checks"]["webhooks"] == "ok"
    assert ready["checks"]["event_retention"] == "ok"


async def test_metrics_read_the_database_once_per_interval(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    def idle(text: str) -> str:
        return next(line for line in text.splitlines() if 'state="idle"' in line)

    await create_connection(client, admin, "One")
    first = idle((await client.get("/metrics")).text)
    await create_connection(client, admin, "Two")
    assert idle((await client.get("/metrics")).text) == first  # the same snapshot
    await clock.advance(REFRESH_INTERVAL)
    assert idle((await client.get("/metrics")).text) == 'zapgate_connections{state="idle"} 2.0'
