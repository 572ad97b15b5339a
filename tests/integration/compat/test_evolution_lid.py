"""A customer WhatsApp addresses by LID keeps Evolution's shapes: ``key.remoteJid`` is the
phone JID whenever it is known and ``key.remoteJidAlt`` the LID, in ``findMessages``,
``findChats`` and the ``messages.upsert`` webhook body; on both databases."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from tests.conftest import Server, eventually
from tests.integration.compat.helpers import EVO, create_instance, link_instance, org_key
from zapgate.compat.evolution.events import evolution_body
from zapgate.engines.simulator.qr import lid_for
from zapgate.store.tables.events import EventRow
from zapgate.util.clock import ManualClock

CUSTOMER = "5511988887777"
PHONE_JID = f"{CUSTOMER}@s.whatsapp.net"
LID = lid_for(CUSTOMER)


async def _incoming(http: httpx.AsyncClient, admin: dict[str, str], cid: str, **body: Any) -> None:
    response = await http.post(
        f"/api/v1/simulator/connections/{cid}/incoming",
        headers=admin,
        json={"from": CUSTOMER, **body},
    )
    assert response.status_code == 200, response.text


async def test_lid_addressed_messages_keep_the_phone_jid_in_remote_jid(
    server: Server, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    cid = created["instance"]["instanceId"]
    await link_instance(client, clock, key, admin, "loja", cid)
    who = {"apikey": created["hash"]}
    await _incoming(client, admin, cid, text="by phone", push_name="Ana")
    await _incoming(client, admin, cid, text="by LID, phone beside", as_lid=True)
    await _incoming(client, admin, cid, text="by LID alone", as_lid=True, with_phone=False)

    records: list[dict[str, Any]] = []

    async def all_found() -> bool:
        nonlocal records
        found = await client.post(
            f"{EVO}/chat/findMessages/loja",
            headers=who,
            json={"where": {"key": {"remoteJid": PHONE_JID}}},
        )
        if found.status_code == 404:
            return False  # the first message is not stored yet
        assert found.status_code == 200, found.text
        records = found.json()["messages"]["records"]
        return len(records) == 3

    await eventually(all_found, what="three messages under the phone JID")
    for record in records:
        assert record["key"]["remoteJid"] == PHONE_JID
        assert record["key"]["remoteJidAlt"] == LID
    chats = (await client.post(f"{EVO}/chat/findChats/loja", headers=who)).json()
    assert [c["remoteJid"] for c in chats] == [PHONE_JID]

    async with server.runtime.db.read() as s:
        rows = await s.execute(
            select(EventRow.id, EventRow.type, EventRow.data, EventRow.created_at)
            .where(EventRow.type == "message.received")
            .order_by(EventRow.id)
        )
        received = rows.all()
    assert len(received) == 3
    for event_id, kind, data, at in received:
        envelope = {
            "id": event_id,
            "type": kind,
            "organization_id": "o",
            "connection_id": cid,
            "created_at": at.isoformat(),
            "data": data,
        }
        _, body = evolution_body(
            json.dumps(envelope).encode(),
            "https://crm.example/hook",
            {"instance": "loja", "by_events": False, "server_url": "https://zg"},
        )
        upsert = json.loads(body)
        assert upsert["event"] == "messages.upsert"
        assert upsert["data"]["key"]["remoteJid"] == PHONE_JID
        assert upsert["data"]["key"]["remoteJidAlt"] == LID
