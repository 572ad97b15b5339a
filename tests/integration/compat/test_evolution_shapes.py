"""Evolution's shapes of the instance's own JID (the account, never the device) and of
messages (prepareMessage's conversation and top-level contextInfo)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import Server, eventually
from tests.integration.compat.helpers import EVO, create_instance, link_instance, org_key
from tests.integration.messaging.kit import drive
from tests.integration.servers import Receiver, receiving
from zapgate.config import Settings
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import ManualClock

ACCOUNT = "5511999990001@s.whatsapp.net"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def test_owner_jid_and_sender_leave_the_device_out(
    server: Server, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    instance_id = created["instance"]["instanceId"]
    await link_instance(client, clock, key, admin, "loja", instance_id)
    # neonize stores the session's own JID with its device.
    async with server.runtime.db.write() as s:
        await s.execute(
            update(ConnectionRow)
            .where(ConnectionRow.id == instance_id)
            .values(jid="5511999990001:12@s.whatsapp.net")
        )
    who = {"apikey": created["hash"]}
    (info,) = (await client.get(f"{EVO}/instance/fetchInstances", headers=who)).json()
    assert info["ownerJid"] == ACCOUNT

    async with receiving(Receiver()) as receiver:
        saved = await client.post(
            f"{EVO}/webhook/set/loja",
            headers=who,
            json={"webhook": {"url": receiver.url, "events": ["MESSAGES_UPSERT"]}},
        )
        assert saved.status_code == 201, saved.text
        incoming = await client.post(
            f"/api/v1/simulator/connections/{instance_id}/incoming",
            headers=admin,
            json={"from": "5511988887777", "text": "Oi"},
        )
        assert incoming.status_code in (200, 201), incoming.text

        async def arrived() -> bool:
            return bool(receiver.requests)

        await eventually(arrived, what="the messages.upsert webhook")
    (request,) = receiver.requests
    assert request.envelope["event"] == "messages.upsert"
    assert request.envelope["sender"] == ACCOUNT


async def test_a_reply_is_a_conversation_with_context_info_everywhere(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    """Evolution's prepareMessage: a reply or mention is ``message.conversation`` with
    ``messageType: "conversation"`` and ``contextInfo`` at the top level, in the send's
    answer, ``send.message``, ``messages.upsert`` and ``findMessages``."""
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    instance_id = created["instance"]["instanceId"]
    await link_instance(client, clock, key, admin, "loja", instance_id)
    who = {"apikey": created["hash"]}
    customer = "5511988887777@s.whatsapp.net"
    async with receiving(Receiver()) as receiver:
        saved = await client.post(
            f"{EVO}/webhook/set/loja",
            headers=who,
            json={
                "webhook": {
                    "url": receiver.url,
                    "byEvents": True,
                    "events": ["MESSAGES_UPSERT", "SEND_MESSAGE"],
                }
            },
        )
        assert saved.status_code == 201, saved.text
        first = await client.post(
            f"/api/v1/simulator/connections/{instance_id}/incoming",
            headers=admin,
            json={"from": "5511988887777", "text": "Oi"},
        )
        original = first.json()["wa_message_id"]
        reply = await client.post(
            f"/api/v1/simulator/connections/{instance_id}/incoming",
            headers=admin,
            json={"from": "5511988887777", "text": "e aí?", "quoted_id": original},
        )
        assert reply.status_code in (200, 201), reply.text

        async def stored() -> bool:
            found = await client.post(
                f"{EVO}/chat/findMessages/loja",
                headers=who,
                json={"where": {"key": {"remoteJid": customer}}},
            )
            return bool(found.json()["messages"]["total"] == 2)

        await eventually(stored, what="both received messages stored")
        answer = await client.post(
            f"{EVO}/message/sendText/loja",
            headers=who,
            json={"number": customer, "text": "sim", "quoted": {"key": {"id": original}}},
        )
        assert answer.status_code == 201, answer.text

        def at(path: str) -> list[dict[str, Any]]:
            return [r.envelope["data"] for r in receiver.requests if r.path == path]

        async def arrived() -> bool:
            return len(at("/hook/messages-upsert")) == 2 and len(at("/hook/send-message")) == 1

        await drive(clock, arrived, what="the message webhooks")
    upserts = {d["message"]["conversation"]: d for d in at("/hook/messages-upsert")}
    (sent,) = at("/hook/send-message")
    for data in (upserts["e aí?"], sent, answer.json()):
        assert data["messageType"] == "conversation"
        assert data["contextInfo"] == {"stanzaId": original}
    assert "contextInfo" not in upserts["Oi"]
    assert answer.json()["message"] == {"conversation": "sim"}

    found = await client.post(
        f"{EVO}/chat/findMessages/loja",
        headers=who,
        json={"where": {"key": {"remoteJid": customer}}},
    )
    records = {r["message"]["conversation"]: r for r in found.json()["messages"]["records"]}
    assert records["sim"]["contextInfo"] == {"stanzaId": original}
    assert records["e aí?"]["messageType"] == "conversation"
    assert records["Oi"]["contextInfo"] is None
