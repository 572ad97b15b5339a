"""The instance's own JID names the account, never the device, as Evolution's does."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import Server, eventually
from tests.integration.compat.helpers import EVO, create_instance, link_instance, org_key
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
