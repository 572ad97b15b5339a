"""Raw requests with Evolution API v2's field names and shapes, on both databases."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

import httpx

from tests.conftest import eventually
from tests.integration.compat.helpers import EVO, create_instance, link_instance, org_key
from zapgate.util.clock import ManualClock

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


async def test_create_connect_send_and_read_back(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    assert created["instance"]["instanceName"] == "loja"
    assert created["instance"]["status"] == "close"
    token = created["hash"]
    assert isinstance(token, str)
    assert len(token) >= 16
    instance_id = created["instance"]["instanceId"]
    await link_instance(client, clock, key, admin, "loja", instance_id)

    who = {"apikey": token}
    text = await client.post(
        f"{EVO}/message/sendText/loja",
        headers=who,
        json={"number": "5511988887777@s.whatsapp.net", "text": "Olá!", "delay": 1200},
    )
    assert text.status_code == 201, text.text
    sent = text.json()
    assert sent["key"] == {
        "remoteJid": "5511988887777@s.whatsapp.net",
        "fromMe": True,
        "id": sent["key"]["id"],
    }
    assert sent["status"] == "PENDING"
    assert sent["message"] == {"conversation": "Olá!"}
    assert sent["messageType"] == "conversation"
    assert isinstance(sent["messageTimestamp"], int)

    reply = await client.post(
        f"{EVO}/message/sendText/loja",
        headers=who,
        json={
            "number": "5511988887777",
            "text": "respondendo",
            "quoted": {"key": {"id": sent["key"]["id"]}},
        },
    )
    assert reply.status_code == 201, reply.text
    # Evolution answers a reply as a conversation, its contextInfo beside the message.
    assert reply.json()["messageType"] == "conversation"
    assert reply.json()["message"] == {"conversation": "respondendo"}
    assert reply.json()["contextInfo"]["stanzaId"] == sent["key"]["id"]
    assert "contextInfo" not in sent

    raw = base64.b64encode(PNG).decode()
    for media in (raw, "data:image/png;base64," + raw):
        image = await client.post(
            f"{EVO}/message/sendMedia/loja",
            headers=who,
            json={
                "number": "5511988887777",
                "mediatype": "image",
                "caption": "foto",
                "media": media,
            },
        )
        assert image.status_code == 201, image.text
        assert image.json()["message"]["imageMessage"]["mimetype"] == "image/png"

    upload = await client.post(
        f"{EVO}/message/sendMedia/loja",
        headers=who,
        data={
            "number": "5511988887777",
            "mediatype": "document",
            "fileName": "nota.png",
            "delay": "1500",
        },
        files={"file": ("nota.png", PNG, "image/png")},
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["message"]["documentMessage"]["fileName"] == "nota.png"

    location = await client.post(
        f"{EVO}/message/sendLocation/loja",
        headers=who,
        json={"number": "5511988887777", "latitude": -23.5, "longitude": -46.6, "name": "Loja"},
    )
    assert location.status_code == 201, location.text
    assert location.json()["messageType"] == "locationMessage"

    contact = await client.post(
        f"{EVO}/message/sendContact/loja",
        headers=who,
        json={
            "number": "5511988887777",
            "contact": [
                {"fullName": "Ana", "wuid": "5511977776666", "phoneNumber": "+55 11 97777-6666"}
            ],
        },
    )
    assert contact.status_code == 201, contact.text

    reaction = await client.post(
        f"{EVO}/message/sendReaction/loja",
        headers=who,
        json={
            "key": {
                "remoteJid": "5511988887777@s.whatsapp.net",
                "fromMe": True,
                "id": sent["key"]["id"],
            },
            "reaction": "👍",
        },
    )
    assert reaction.status_code == 201, reaction.text

    found = await client.post(
        f"{EVO}/chat/findMessages/loja",
        headers=who,
        json={
            "where": {"key": {"remoteJid": "5511988887777@s.whatsapp.net"}},
            "page": 1,
            "offset": 2,
        },
    )
    assert found.status_code == 200, found.text
    page = found.json()["messages"]
    assert page["total"] == 8
    assert page["pages"] == 4
    assert len(page["records"]) == 2

    chats = await client.post(f"{EVO}/chat/findChats/loja", headers=who)
    assert [c["remoteJid"] for c in chats.json()] == ["5511988887777@s.whatsapp.net"]


async def test_errors_are_evolution_shaped(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await org_key(client, admin)
    await create_instance(client, key, "loja")
    missing = await client.get(f"{EVO}/instance/connectionState/nada", headers={"apikey": key})
    assert missing.status_code == 404
    assert missing.json()["error"] == "Not Found"
    assert missing.json()["response"]["code"] == "connection_not_found"

    nokey = await client.get(f"{EVO}/instance/connectionState/loja")
    assert nokey.status_code == 401
    assert nokey.json()["status"] == 401

    bad = await client.post(
        f"{EVO}/message/sendText/loja", headers={"apikey": key}, json={"number": "abc", "text": "x"}
    )
    assert bad.status_code == 400
    assert bad.json()["response"]["code"] == "invalid_phone"

    listing = await client.post(
        f"{EVO}/message/sendList/loja",
        headers={"apikey": key},
        json={"number": "5511988887777", "title": "?", "sections": []},
    )
    assert listing.status_code == 501
    assert "docs/evolution.md" in listing.json()["response"]["message"][0]
    assert listing.json()["response"]["code"] == "evolution_route_not_supported"

    unknown = await client.post(f"{EVO}/nothing/here/loja", headers={"apikey": key})
    assert unknown.status_code == 501
    assert "/nothing/here/loja" in unknown.json()["response"]["message"][0]

    mention = await client.post(
        f"{EVO}/message/sendText/loja",
        headers={"apikey": key},
        json={"number": "5511988887777", "text": "@todos", "mentionsEveryOne": True},
    )
    assert mention.status_code == 400  # everyone is for groups
    assert mention.json()["response"]["code"] == "mentions_all_outside_group"

    taken = await client.post(
        f"{EVO}/instance/create", headers={"apikey": key}, json={"instanceName": "loja"}
    )
    assert taken.status_code == 403
    assert taken.json() == {
        "status": 403,
        "error": "Forbidden",
        "response": {"message": ['This name "loja" is already in use.'], "code": "name_in_use"},
    }

    for query in ("instanceName=nada", "instanceId=nada", "number=5511900000000"):
        unknown = await client.get(
            f"{EVO}/instance/fetchInstances?{query}", headers={"apikey": key}
        )
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["error"] == "Not Found"
        assert unknown.json()["response"]["message"] == [
            f'Instance "{query.split("=")[1]}" not found'
        ]
    other = await create_instance(client, key, "filial")
    foreign = await client.get(
        f"{EVO}/instance/fetchInstances?instanceName=loja", headers={"apikey": other["hash"]}
    )
    assert foreign.status_code == 401
    found = await client.get(
        f"{EVO}/instance/fetchInstances?instanceName=loja", headers={"apikey": key}
    )
    assert [i["name"] for i in found.json()] == ["loja"]


async def test_chat_group_and_lifecycle_routes(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    instance_id = created["instance"]["instanceId"]
    await link_instance(client, clock, key, admin, "loja", instance_id)
    who = {"apikey": created["hash"]}
    customer = "5511988887777@s.whatsapp.net"

    numbers = await client.post(
        f"{EVO}/chat/whatsappNumbers/loja", headers=who, json={"numbers": ["5511988887777"]}
    )
    assert numbers.status_code == 200, numbers.text
    assert numbers.json() == [{"exists": True, "jid": customer, "number": "5511988887777"}]

    incoming = await client.post(
        f"/api/v1/simulator/connections/{instance_id}/incoming",
        headers=admin,
        json={"from": "5511988887777", "text": "Oi", "push_name": "Ana"},
    )
    assert incoming.status_code in (200, 201), incoming.text
    wa_id = incoming.json()["wa_message_id"]

    async def chats() -> list[dict[str, object]]:
        answer = await client.post(f"{EVO}/chat/findChats/loja", headers=who)
        found: list[dict[str, object]] = answer.json()
        return found

    await eventually(lambda: _has_unread(chats), what="an unread chat")
    read = await client.post(
        f"{EVO}/chat/markMessageAsRead/loja",
        headers=who,
        json={"readMessages": [{"remoteJid": customer, "fromMe": False, "id": wa_id}]},
    )
    assert read.json() == {"message": "Read messages", "read": "success"}
    assert (await chats())[0]["unreadCount"] == 0

    contacts = await client.post(
        f"{EVO}/chat/findContacts/loja", headers=who, json={"where": {"remoteJid": customer}}
    )
    assert [c["pushName"] for c in contacts.json()] == ["Ana"]

    image = await client.post(
        f"{EVO}/message/sendMedia/loja",
        headers=who,
        json={"number": customer, "mediatype": "image", "media": base64.b64encode(PNG).decode()},
    )
    media = await client.post(
        f"{EVO}/chat/getBase64FromMediaMessage/loja",
        headers=who,
        json={"message": {"key": {"id": image.json()["key"]["id"]}}},
    )
    assert media.status_code == 200, media.text
    assert base64.b64decode(media.json()["base64"]) == PNG
    assert media.json()["mimetype"] == "image/png"

    typing = await client.post(
        f"{EVO}/chat/sendPresence/loja",
        headers=who,
        json={"number": customer, "presence": "composing", "delay": 0},
    )
    assert typing.status_code == 201, typing.text

    groups = await client.get(f"{EVO}/group/fetchAllGroups/loja?getParticipants=true", headers=who)
    assert groups.status_code == 200, groups.text
    assert isinstance(groups.json(), list)

    restart = await client.post(f"{EVO}/instance/restart/loja", headers=who)
    assert restart.status_code == 200, restart.text
    logout = await client.delete(f"{EVO}/instance/logout/loja", headers=who)
    assert logout.json()["status"] == "SUCCESS"
    state = await client.get(f"{EVO}/instance/connectionState/loja", headers=who)
    assert state.json()["instance"]["state"] == "close"
    deleted = await client.delete(f"{EVO}/instance/delete/loja", headers=who)
    assert deleted.json()["response"]["message"] == "Instance deleted"
    gone = await client.get(f"{EVO}/instance/fetchInstances", headers={"apikey": key})
    assert gone.json() == []


async def _has_unread(chats: Callable[[], Awaitable[list[dict[str, object]]]]) -> bool:
    found = await chats()
    return bool(found) and found[0]["unreadCount"] == 1


async def test_an_empty_token_gets_one_made(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja", token="")
    token = created["hash"]
    assert isinstance(token, str)
    assert len(token) >= 16
    state = await client.get(f"{EVO}/instance/connectionState/loja", headers={"apikey": token})
    assert state.status_code == 200, state.text
    short = await client.post(
        f"{EVO}/instance/create", headers={"apikey": key}, json={"instanceName": "b", "token": "x"}
    )
    assert short.status_code == 400
    assert short.json()["response"]["code"] == "invalid_token"
