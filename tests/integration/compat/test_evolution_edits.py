"""Evolution API v2's edit, delete-for-everyone and mention fields, on both databases."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.compat.helpers import EVO, create_instance, link_instance, org_key
from tests.integration.messaging.kit import drive
from zapgate.util.clock import ManualClock

CUSTOMER = "5511988887777"


async def sent(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock, mid: str
) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        found.update((await client.get(f"/api/v1/messages/{mid}", headers=admin)).json())
        return found["status"] in ("sent", "delivered", "read")

    await drive(clock, reached, what="message sent")
    return found


async def test_send_with_mentions_edit_and_delete_for_everyone(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    await link_instance(client, clock, key, admin, "loja", created["instance"]["instanceId"])
    who = {"apikey": created["hash"]}

    text = await client.post(
        f"{EVO}/message/sendText/loja",
        headers=who,
        json={"number": CUSTOMER, "text": "@5511977776666 oi", "mentioned": ["5511977776666"]},
    )
    assert text.status_code == 201, text.text
    record = text.json()
    assert record["messageType"] == "conversation"
    assert record["message"] == {"conversation": "@5511977776666 oi"}
    assert record["contextInfo"]["mentionedJid"] == ["5511977776666@s.whatsapp.net"]
    await sent(client, admin, clock, record["id"])
    wa_id = record["key"]["id"]
    jid = f"{CUSTOMER}@s.whatsapp.net"

    update = await client.post(
        f"{EVO}/chat/updateMessage/loja",
        headers=who,
        json={
            "number": CUSTOMER,
            "key": {"id": wa_id, "remoteJid": jid, "fromMe": True},
            "text": "corrigido",
        },
    )
    assert update.status_code == 201, update.text
    protocol = update.json()["message"]["protocolMessage"]
    assert protocol["type"] == "MESSAGE_EDIT"
    assert protocol["key"]["id"] == wa_id
    assert protocol["editedMessage"] == {"conversation": "corrigido"}
    now = (await client.get(f"/api/v1/messages/{record['id']}", headers=admin)).json()
    assert (now["text"], now["edited_at"] is not None) == ("corrigido", True)

    theirs = await client.post(
        f"{EVO}/chat/updateMessage/loja",
        headers=who,
        json={
            "number": CUSTOMER,
            "key": {"id": wa_id, "remoteJid": jid, "fromMe": False},
            "text": "x",
        },
    )
    assert theirs.status_code == 400
    assert theirs.json()["response"]["code"] == "not_own_message"
    unknown = await client.request(
        "DELETE",
        f"{EVO}/chat/deleteMessageForEveryone/loja",
        headers=who,
        json={"id": "3EB0NOTHERE", "fromMe": True, "remoteJid": jid},
    )
    assert unknown.status_code == 404
    assert unknown.json()["response"]["code"] == "message_not_found"

    deleted = await client.request(
        "DELETE",
        f"{EVO}/chat/deleteMessageForEveryone/loja",
        headers=who,
        json={"id": wa_id, "fromMe": True, "remoteJid": jid},
    )
    assert deleted.status_code == 201, deleted.text
    assert deleted.json()["message"]["protocolMessage"]["type"] == "REVOKE"
    found = await client.post(
        f"{EVO}/chat/findMessages/loja",
        headers=who,
        json={"where": {"key": {"id": wa_id, "remoteJid": jid}}},
    )
    assert found.status_code == 200, found.text
    records = found.json()["messages"]["records"]
    assert [r["status"] for r in records] == ["DELETED"]
