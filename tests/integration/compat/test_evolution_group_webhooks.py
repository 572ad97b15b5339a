"""Group changes reach Evolution-format webhooks as ``groups.update``,
``group-participants.update`` and (the number joining) ``groups.upsert``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.compat.helpers import EVO, create_instance, link_instance, org_key
from tests.integration.servers import Receiver, receiving
from zapgate.config import Settings
from zapgate.util.clock import ManualClock

LOJA = "5511999990001@s.whatsapp.net"
FILIAL = "5511999990002@s.whatsapp.net"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def _hook(
    client: httpx.AsyncClient, who: dict[str, str], name: str, url: str, events: list[str]
) -> None:
    saved = await client.post(
        f"{EVO}/webhook/set/{name}",
        headers=who,
        json={"webhook": {"url": url, "byEvents": True, "events": events}},
    )
    assert saved.status_code == 201, saved.text


async def test_group_changes_in_evolution_shapes(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    key = await org_key(client, admin)
    loja = await create_instance(client, key, "loja")
    await link_instance(client, clock, key, admin, "loja", loja["instance"]["instanceId"])
    filial = await create_instance(client, key, "filial")
    await link_instance(
        client, clock, key, admin, "filial", filial["instance"]["instanceId"], "5511999990002"
    )
    as_loja, as_filial = {"apikey": loja["hash"]}, {"apikey": filial["hash"]}
    async with receiving(Receiver()) as receiver:
        await _hook(
            client,
            as_loja,
            "loja",
            receiver.url + "/loja",
            ["GROUP_UPDATE", "GROUP_PARTICIPANTS_UPDATE", "GROUPS_UPSERT"],
        )
        await _hook(client, as_filial, "filial", receiver.url + "/filial", ["GROUPS_UPSERT"])
        created = await client.post(
            f"{EVO}/group/create/loja",
            headers=as_loja,
            json={"subject": "Clientes", "participants": ["5511988887777"]},
        )
        jid = created.json()["id"]
        renamed = await client.post(
            f"{EVO}/group/updateGroupSubject/loja",
            headers=as_loja,
            params={"groupJid": jid},
            json={"subject": "Clientes VIP"},
        )
        assert renamed.status_code == 201, renamed.text
        code = await client.get(
            f"{EVO}/group/inviteCode/loja", headers=as_loja, params={"groupJid": jid}
        )
        joined = await client.get(
            f"{EVO}/group/acceptInviteCode/filial",
            headers=as_filial,
            params={"inviteCode": code.json()["inviteCode"]},
        )
        assert joined.status_code == 200, joined.text

        def at(path: str) -> list[dict[str, Any]]:
            return [r.envelope for r in receiver.requests if r.path == path]

        async def arrived() -> bool:
            return (
                bool(at("/hook/loja/groups-update"))
                and bool(at("/hook/loja/group-participants-update"))
                and bool(at("/hook/filial/groups-upsert"))
                and bool(at("/hook/loja/groups-upsert"))
            )

        await eventually(arrived, what="the group webhooks")
    (update,) = at("/hook/loja/groups-update")
    assert update["event"] == "groups.update"
    assert update["instance"] == "loja"
    assert update["data"] == [{"id": jid, "author": LOJA, "subject": "Clientes VIP"}]
    (participants,) = at("/hook/loja/group-participants-update")
    assert participants["data"]["id"] == jid
    assert participants["data"]["action"] == "add"
    assert participants["data"]["participants"] == [FILIAL]
    assert participants["data"]["participantsData"][0]["phoneNumber"] == "5511999990002"
    # The group loja made through the API is an upsert for loja, said once.
    (made,) = at("/hook/loja/groups-upsert")
    assert made["event"] == "groups.upsert"
    assert [g["id"] for g in made["data"]] == [jid]
    (upsert,) = at("/hook/filial/groups-upsert")
    assert upsert["event"] == "groups.upsert"
    (group,) = upsert["data"]
    assert (group["id"], group["subject"]) == (jid, "Clientes VIP")
    assert {p["id"] for p in group["participants"]} >= {LOJA, FILIAL}
