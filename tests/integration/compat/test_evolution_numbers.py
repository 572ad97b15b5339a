"""Numbers not on WhatsApp, as Evolution API answers them: sends refused with the
number's check, and chat/whatsappNumbers per entry."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.conftest import Server, eventually
from tests.integration.compat.helpers import (
    EVO,
    create_instance,
    linked_instance,
    org_key,
)
from zapgate.domain.errors import EngineError
from zapgate.util.clock import ManualClock

NOBODY = "5511999990000"
"""Not on WhatsApp (the simulator's rule: a number ending in 0000)."""
CUSTOMER = "5511988887777"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


async def _on_whatsapp(
    client: httpx.AsyncClient, admin: dict[str, str], phone: str, on: bool
) -> None:
    made = await client.post(
        "/api/v1/simulator/numbers", headers=admin, json={"phone": phone, "on_whatsapp": on}
    )
    assert made.status_code in (200, 204), made.text


def _refused(number: str, jid: str) -> dict[str, object]:
    return {
        "status": 400,
        "error": "Bad Request",
        "response": {
            "message": [{"jid": jid, "exists": False, "number": number}],
            "code": "not_on_whatsapp",
        },
    }


async def test_a_send_to_a_number_not_on_whatsapp_is_refused_with_its_check(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, _ = await linked_instance(client, admin, clock)
    text = await client.post(
        f"{EVO}/message/sendText/loja", headers=who, json={"number": NOBODY, "text": "Oi"}
    )
    assert text.status_code == 400, text.text
    assert text.json() == _refused(NOBODY, f"{NOBODY}@s.whatsapp.net")
    jid = f"{NOBODY}@s.whatsapp.net"
    media = await client.post(
        f"{EVO}/message/sendMedia/loja",
        headers=who,
        json={"number": jid, "mediatype": "image", "media": base64.b64encode(PNG).decode()},
    )
    assert media.status_code == 400, media.text
    assert media.json() == _refused(jid, jid)
    location = await client.post(
        f"{EVO}/message/sendLocation/loja",
        headers=who,
        json={"number": NOBODY, "latitude": -23.5, "longitude": -46.6},
    )
    assert location.status_code == 400, location.text
    # Nothing was stored, so nothing is sent later.
    found = await client.post(f"{EVO}/chat/findChats/loja", headers=who)
    assert found.json() == []


async def test_a_known_contact_is_not_asked_again(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    """The contact keeps WhatsApp's answer (as the outbox does): a second send to it
    does not ask WhatsApp, so a number that left WhatsApp since is still sent to."""
    who, _ = await linked_instance(client, admin, clock)
    first = await client.post(
        f"{EVO}/message/sendText/loja", headers=who, json={"number": CUSTOMER, "text": "Oi"}
    )
    assert first.status_code == 201, first.text

    async def remembered() -> bool:
        answer = await client.get("/api/v1/contacts", headers=admin, params={"q": CUSTOMER})
        return any(c["on_whatsapp"] for c in answer.json()["items"])

    await eventually(remembered, what="the contact's check remembered")
    await _on_whatsapp(client, admin, CUSTOMER, False)
    again = await client.post(
        f"{EVO}/message/sendText/loja", headers=who, json={"number": CUSTOMER, "text": "Oi"}
    )
    assert again.status_code == 201, again.text
    # chat/whatsappNumbers always asks.
    checked = await client.post(
        f"{EVO}/chat/whatsappNumbers/loja", headers=who, json={"numbers": [CUSTOMER]}
    )
    assert checked.json()[0]["exists"] is False


async def test_a_send_while_not_connected_is_queued_unchecked(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Not connected, nothing can be asked (Evolution cannot ask either, and fails the
    request): the message waits in the outbox, which checks the number before sending."""
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    who = {"apikey": created["hash"]}
    text = await client.post(
        f"{EVO}/message/sendText/loja", headers=who, json={"number": NOBODY, "text": "Oi"}
    )
    assert text.status_code == 201, text.text
    assert text.json()["status"] == "PENDING"


async def test_whatsapp_numbers_answers_each_entry(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    """Groups, LIDs, broadcasts and entries that are no number each get their answer
    (no 400 for the whole request), with the contact's or group's name, in Evolution's
    order: broadcasts, groups, then the rest."""
    who, instance_id = await linked_instance(client, admin, clock)
    incoming = await client.post(
        f"/api/v1/simulator/connections/{instance_id}/incoming",
        headers=admin,
        json={"from": CUSTOMER, "text": "Oi", "push_name": "Ana"},
    )
    assert incoming.status_code in (200, 201), incoming.text
    group = await client.post(
        f"{EVO}/group/create/loja",
        headers=who,
        json={"subject": "Clientes", "participants": [CUSTOMER]},
    )
    assert group.status_code == 201, group.text
    group_jid = group.json()["id"]
    unknown_group = "120363999999999999@g.us"
    lid = "123456789012345@lid"

    async def contact_known() -> bool:
        answer = await client.get("/api/v1/contacts", headers=admin, params={"q": CUSTOMER})
        return bool(answer.json()["items"])

    await eventually(contact_known, what="the customer's contact")
    numbers = [CUSTOMER, group_jid, "abc", NOBODY, unknown_group, "status@broadcast", lid]
    checked = await client.post(
        f"{EVO}/chat/whatsappNumbers/loja", headers=who, json={"numbers": numbers}
    )
    assert checked.status_code == 200, checked.text
    assert checked.json() == [
        {"jid": "status@broadcast", "exists": False, "number": "status@broadcast"},
        {"jid": group_jid, "exists": True, "number": group_jid, "name": "Clientes"},
        {"jid": unknown_group, "exists": False, "number": unknown_group},
        {
            "jid": f"{CUSTOMER}@s.whatsapp.net",
            "exists": True,
            "number": CUSTOMER,
            "name": "Ana",
        },
        {"jid": "@s.whatsapp.net", "exists": False, "number": "abc"},
        {"jid": f"{NOBODY}@s.whatsapp.net", "exists": False, "number": NOBODY},
        {"jid": lid, "exists": True, "number": lid, "lid": "lid"},
    ]


async def test_a_reply_to_an_unknown_message_is_sent_without_the_quote(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    """Evolution quotes the message when it finds it, and sends without a quote when it
    does not (zapgate's own API answers 422 ``unknown_message``)."""
    who, _ = await linked_instance(client, admin, clock)
    sent = await client.post(
        f"{EVO}/message/sendText/loja",
        headers=who,
        json={"number": CUSTOMER, "text": "Oi", "quoted": {"key": {"id": "3EB0NOTKNOWN"}}},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["message"] == {"conversation": "Oi"}
    assert "contextInfo" not in sent.json()
    reply = await client.post(
        f"{EVO}/message/sendText/loja",
        headers=who,
        json={"number": CUSTOMER, "text": "e", "quoted": {"key": {"id": sent.json()["key"]["id"]}}},
    )
    assert reply.json()["contextInfo"]["stanzaId"] == sent.json()["key"]["id"]


async def test_a_check_that_fails_leaves_the_send_queued_unchecked(
    server: Server, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    """WhatsApp did not answer the check (a timeout, a node that did not answer): the
    send is queued as when not connected, not refused, and the outbox checks later."""
    who, _ = await linked_instance(client, admin, clock)
    lookups = server.runtime.messaging.lookups

    async def times_out(*args: Any, **kw: Any) -> Any:
        raise EngineError("timeout", "WhatsApp did not answer in time")

    lookups.check_numbers = times_out  # type: ignore[method-assign]
    text = await client.post(
        f"{EVO}/message/sendText/loja", headers=who, json={"number": CUSTOMER, "text": "Oi"}
    )
    assert text.status_code == 201, text.text
    assert text.json()["status"] == "PENDING"


async def test_the_first_send_to_a_number_asks_whatsapp_once(
    server: Server, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    """The send's check is kept on the contact the send made: the outbox does not ask
    again before sending (bulk lookups get numbers flagged)."""
    who, _ = await linked_instance(client, admin, clock)
    engine = server.runtime.supervisor.engine
    check = engine.check_numbers
    asked: list[list[str]] = []

    async def counted(session_id: str, phones: list[str]) -> Any:
        asked.append(list(phones))
        return await check(session_id, phones)

    engine.check_numbers = counted  # type: ignore[method-assign]
    text = await client.post(
        f"{EVO}/message/sendText/loja", headers=who, json={"number": CUSTOMER, "text": "Oi"}
    )
    assert text.status_code == 201, text.text
    mid = text.json()["id"]

    async def sent() -> bool:
        await clock.advance(1)  # the outbox paces its sends on the clock
        found = await client.get(f"/api/v1/messages/{mid}", headers=admin)
        return found.json()["status"] in ("sent", "delivered", "read")

    await eventually(sent, what="the message sent")
    assert asked == [[CUSTOMER]]
