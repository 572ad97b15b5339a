"""Presence both ways (``/instance/setPresence``, ``/chat/sendPresence`` and
``PRESENCE_UPDATE``), media as base64 in webhook bodies, and Brazilian numbers
resolved by WhatsApp, through the Evolution layer on both databases."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.compat.helpers import (
    EVO,
    linked_instance,
)
from tests.integration.servers import Receiver, receiving
from zapgate.config import Settings
from zapgate.util.clock import ManualClock

ANA = "5511988887777"
ANA_JID = f"{ANA}@s.whatsapp.net"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def _activity(client: httpx.AsyncClient, admin: dict[str, str], cid: str) -> Any:
    answer = await client.get(f"/api/v1/simulator/connections/{cid}/activity", headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_set_presence_shows_the_number_online_and_offline(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, cid = await linked_instance(client, admin, clock)
    before = (await _activity(client, admin, cid))["online"]
    for presence in ("available", "unavailable"):
        answer = await client.post(
            f"{EVO}/instance/setPresence/loja", headers=who, json={"presence": presence}
        )
        assert answer.status_code == 201, answer.text
        assert answer.json() == {"presence": presence}
    assert (await _activity(client, admin, cid))["online"] == [*before, True, False]

    typing = await client.post(
        f"{EVO}/instance/setPresence/loja", headers=who, json={"presence": "composing"}
    )
    assert typing.status_code == 400
    assert typing.json()["response"]["code"] == "invalid_presence"
    missing = await client.post(f"{EVO}/instance/setPresence/loja", headers=who, json={})
    assert missing.json()["response"]["code"] == "validation_error"

    await client.delete(f"{EVO}/instance/logout/loja", headers=who)
    closed = await client.post(
        f"{EVO}/instance/setPresence/loja", headers=who, json={"presence": "available"}
    )
    assert closed.status_code == 400, closed.text
    assert closed.json()["response"]["code"] == "connection_not_ready"


async def test_send_presence_types_for_the_delay_then_pauses(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, cid = await linked_instance(client, admin, clock)
    await client.post(
        f"/api/v1/simulator/connections/{cid}/incoming",
        headers=admin,
        json={"from": ANA, "text": "Oi"},
    )

    async def chat_exists() -> bool:
        chats = await client.post(f"{EVO}/chat/findChats/loja", headers=who)
        return len(chats.json()) == 1

    await eventually(chat_exists, what="the chat")
    request = asyncio.create_task(
        client.post(
            f"{EVO}/chat/sendPresence/loja",
            headers=who,
            json={"number": ANA, "presence": "recording", "delay": 3000},
        )
    )

    async def typing_shown() -> bool:
        shown = (await _activity(client, admin, cid))["presences"]
        return [p["presence"] for p in shown] == ["recording"]

    await eventually(typing_shown, what="recording shown")
    assert not request.done()
    await clock.advance(3)
    answer = await request
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"presence": "recording"}
    shown = (await _activity(client, admin, cid))["presences"]
    assert [(p["chat_jid"], p["presence"]) for p in shown] == [
        (ANA_JID, "recording"),
        (ANA_JID, "paused"),
    ]

    too_long = await client.post(
        f"{EVO}/chat/sendPresence/loja",
        headers=who,
        json={"number": ANA, "presence": "composing", "delay": 600_000},
    )
    assert too_long.status_code == 400
    assert too_long.json()["response"]["code"] == "presence_delay_too_long"
    wrong = await client.post(
        f"{EVO}/chat/sendPresence/loja",
        headers=who,
        json={"number": ANA, "presence": "dancing", "delay": 0},
    )
    assert wrong.json()["response"]["code"] == "invalid_presence"


async def test_presence_update_and_base64_media_reach_an_evolution_webhook(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, cid = await linked_instance(client, admin, clock)
    async with receiving(Receiver()) as receiver:
        saved = await client.post(
            f"{EVO}/webhook/set/loja",
            headers=who,
            json={
                "webhook": {
                    "enabled": True,
                    "url": receiver.url,
                    "byEvents": True,
                    "base64": True,
                    "events": ["PRESENCE_UPDATE", "MESSAGES_UPSERT"],
                }
            },
        )
        assert saved.status_code == 201, saved.text
        assert saved.json()["webhookBase64"] is True
        for presence in ("typing", "unavailable"):
            shown = await client.post(
                f"/api/v1/simulator/connections/{cid}/presence",
                headers=admin,
                json={"from": ANA, "presence": presence},
            )
            assert shown.status_code == 204, shown.text
        await client.post(
            f"/api/v1/simulator/connections/{cid}/incoming",
            headers=admin,
            json={
                "from": ANA,
                "type": "image",
                "media": {"base64": base64.b64encode(PNG).decode(), "mimetype": "image/png"},
            },
        )

        async def arrived() -> bool:
            return len(receiver.requests) == 3

        await eventually(arrived, what="three webhook requests")
    by_event: dict[str, list[dict[str, Any]]] = {}
    for r in receiver.requests:
        by_event.setdefault(r.path, []).append(r.envelope)
    typing, offline = by_event["/hook/presence-update"]
    assert typing["event"] == "presence.update"
    assert typing["instance"] == "loja"
    assert typing["data"] == {
        "id": ANA_JID,
        "presences": {ANA_JID: {"lastKnownPresence": "composing"}},
    }
    assert offline["data"]["presences"][ANA_JID]["lastKnownPresence"] == "unavailable"
    assert isinstance(offline["data"]["presences"][ANA_JID]["lastSeen"], int)
    (image,) = by_event["/hook/messages-upsert"]
    assert base64.b64decode(image["data"]["message"]["base64"]) == PNG
    assert image["data"]["message"]["imageMessage"]["mimetype"] == "image/png"

    # The event is zapgate's too.
    events = await client.get("/api/v1/events", headers=admin, params={"types": "presence.updated"})
    assert [e["data"]["presence"] for e in events.json()["items"]] == ["typing", "unavailable"]


async def test_a_brazilian_number_is_sent_to_the_account_whatsapp_knows(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    """The number typed with the ninth digit reaches the account registered without it
    (and the other way round), because WhatsApp is asked: sends, checks and group
    members."""
    who, _ = await linked_instance(client, admin, clock)
    for phone, on in (("5511988887777", False), ("551188887777", True)):
        made = await client.post(
            "/api/v1/simulator/numbers", headers=admin, json={"phone": phone, "on_whatsapp": on}
        )
        assert made.status_code in (200, 204), made.text
    for phone, on in (("5521977776666", True), ("552177776666", False)):
        await client.post(
            "/api/v1/simulator/numbers", headers=admin, json={"phone": phone, "on_whatsapp": on}
        )
    cases = {
        "5511988887777": "551188887777@s.whatsapp.net",
        "+55 (11) 98888-7777": "551188887777@s.whatsapp.net",
        "552177776666": "5521977776666@s.whatsapp.net",
        "5511977775555": "5511977775555@s.whatsapp.net",
    }
    for typed, expected in cases.items():
        sent = await client.post(
            f"{EVO}/message/sendText/loja", headers=who, json={"number": typed, "text": "Oi"}
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["key"]["remoteJid"] == expected, typed
    checked = await client.post(
        f"{EVO}/chat/whatsappNumbers/loja", headers=who, json={"numbers": ["5511988887777"]}
    )
    # The sends made the contact (without a name), so ``name`` is there, null.
    assert checked.json() == [
        {
            "exists": True,
            "jid": "551188887777@s.whatsapp.net",
            "number": "5511988887777",
            "name": None,
        }
    ]
    group = await client.post(
        f"{EVO}/group/create/loja",
        headers=who,
        json={"subject": "Clientes", "participants": ["5511988887777"]},
    )
    assert group.status_code == 201, group.text
    assert "551188887777@s.whatsapp.net" in {p["id"] for p in group.json()["participants"]}
    added = await client.post(
        f"{EVO}/group/updateParticipant/loja",
        headers=who,
        params={"groupJid": group.json()["id"]},
        json={"action": "add", "participants": ["552177776666"]},
    )
    assert added.json()["updateParticipants"] == [
        {"status": "200", "jid": "5521977776666@s.whatsapp.net", "error": None}
    ]
