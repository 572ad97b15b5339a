"""``/webhook/set`` and ``/webhook/find``, and ``format`` on ``/api/v1/webhooks``."""

from __future__ import annotations

import httpx

from tests.integration.compat.helpers import EVO, create_instance, org_key


async def test_set_then_find_an_evolution_webhook(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    token = created["hash"]
    instance_id = created["instance"]["instanceId"]
    assert (await client.get(f"{EVO}/webhook/find/loja", headers={"apikey": token})).json() is None
    body = {
        "webhook": {
            "enabled": True,
            "url": "https://crm.example.com/hook",
            "byEvents": True,
            "base64": True,
            "events": ["MESSAGES_UPSERT", "CONNECTION_UPDATE"],
        }
    }
    saved = await client.post(f"{EVO}/webhook/set/loja", headers={"apikey": token}, json=body)
    assert saved.status_code == 201, saved.text
    assert saved.json()["webhookByEvents"] is True
    assert saved.json()["webhookBase64"] is True
    found = (await client.get(f"{EVO}/webhook/find/loja", headers={"apikey": token})).json()
    assert found["events"] == ["MESSAGES_UPSERT", "CONNECTION_UPDATE"]
    assert found["instanceId"] == instance_id

    hooks = (await client.get("/api/v1/webhooks", headers=admin)).json()["items"]
    assert len(hooks) == 1
    assert hooks[0]["format"] == "evolution"
    assert hooks[0]["connection_id"] == instance_id
    assert sorted(hooks[0]["events"]) == ["connection.status", "message.received"]

    # Set again: the same webhook, replaced.
    body["webhook"]["events"] = ["SEND_MESSAGE"]
    again = await client.post(f"{EVO}/webhook/set/loja", headers={"apikey": token}, json=body)
    assert again.json()["id"] == saved.json()["id"]

    unknown = await client.post(
        f"{EVO}/webhook/set/loja",
        headers={"apikey": token},
        json={"webhook": {"url": "https://crm.example.com/hook", "events": ["MESSAGE_UPSERT"]}},
    )
    assert unknown.status_code == 400
    assert unknown.json()["response"]["code"] == "unknown_event_type"


async def test_every_evolution_event_name_is_accepted(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(
        client,
        key,
        "loja",
        webhook={"url": "https://crm.example.com/hook", "events": ["CALL", "MESSAGES_UPSERT"]},
    )
    who = {"apikey": created["hash"]}
    found = (await client.get(f"{EVO}/webhook/find/loja", headers=who)).json()
    assert found["events"] == ["CALL", "MESSAGES_UPSERT"]
    url = "https://crm.example.com/hook"
    mixed = ["MESSAGES_SET", "APPLICATION_STARTUP", "SEND_MESSAGE", "LABELS_EDIT"]
    saved = await client.post(
        f"{EVO}/webhook/set/loja", headers=who, json={"webhook": {"url": url, "events": mixed}}
    )
    assert saved.status_code == 201, saved.text
    assert saved.json()["events"] == mixed
    (hook,) = (await client.get("/api/v1/webhooks", headers=admin)).json()["items"]
    assert hook["events"] == ["message.sent"]

    # Only events zapgate never produces: kept, and sent nothing but an explicit test.
    silent = await client.post(
        f"{EVO}/webhook/set/loja", headers=who, json={"webhook": {"url": url, "events": ["CALL"]}}
    )
    assert silent.status_code == 201, silent.text
    assert silent.json()["events"] == ["CALL"]
    (hook,) = (await client.get("/api/v1/webhooks", headers=admin)).json()["items"]
    assert hook["events"] == ["webhook.test"]


async def test_format_is_settable_through_the_zapgate_api(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made = await client.post(
        "/api/v1/webhooks",
        headers=admin,
        json={"url": "https://crm.example.com/hook", "format": "evolution"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["format"] == "evolution"
    back = await client.patch(
        f"/api/v1/webhooks/{made.json()['id']}", headers=admin, json={"format": "zapgate"}
    )
    assert back.json()["format"] == "zapgate"
    wrong = await client.post(
        "/api/v1/webhooks",
        headers=admin,
        json={"url": "https://crm.example.com/hook", "format": "other"},
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "validation_error"
